/**
 * Benchmark 4, the edge endpoint: requests/s and p50/p99 latency of `POST /v1/identify` under
 * `wrangler dev`, against a bare Hono handler answering 202 in the same Worker (bench/worker.ts),
 * in alternating phases of bounded size, on 127.0.0.1 only.
 *
 *   node --import tsx bench/edge.bench.ts
 */
import { Agent, request as httpRequest } from "node:http";
import { emit, median, percentile } from "./measure.ts";
import { realisticRows } from "./rows.ts";
import { DEV_INGEST_KEY, startBenchStack } from "./stack.ts";

const PER_PHASE = Number(process.env["BENCH_EDGE_REQUESTS"] ?? 400);
const ROUNDS = Number(process.env["BENCH_EDGE_ROUNDS"] ?? 4);
const CONCURRENCY = Number(process.env["BENCH_EDGE_CONCURRENCY"] ?? 16);
const DEADLINE_MS = 90_000;

interface Phase {
  readonly seconds: number;
  readonly latencies: number[];
  readonly statuses: Map<number, number>;
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function post(url: URL, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(
      url,
      { method: "POST", agent, headers: { ...headers, "Content-Length": Buffer.byteLength(body) } },
      (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? 0));
      },
    );
    req.on("error", () => resolve(0));
    req.end(body);
  });
}

/** `count` POSTs with `CONCURRENCY` in flight, stopping early at the deadline. */
async function phase(
  url: URL,
  bodies: string[],
  headers: Record<string, string>,
  stopAt: number,
): Promise<Phase> {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length && Date.now() < stopAt) {
        const body = bodies[next++]!;
        const t0 = performance.now();
        const status = await post(url, body, headers);
        latencies.push(performance.now() - t0);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies, statuses };
}

const stack = await startBenchStack({
  config: "bench/wrangler.bench.toml",
  sandbox: { rowsPerMinute: 600_000 },
});
const headers = { Authorization: `Bearer ${DEV_INGEST_KEY}`, "Content-Type": "application/json" };
const bodies = realisticRows(PER_PHASE, 2_000, 5).map((row) => JSON.stringify(row));
const identifyUrl = new URL(`${stack.workerUrl}/v1/identify`);
const bareUrl = new URL(`${stack.workerUrl}/bare`);
const stopAt = Date.now() + DEADLINE_MS;

// Warm both paths (isolate, Durable Object, queue) before timing.
await phase(identifyUrl, bodies.slice(0, 50), headers, stopAt);
await phase(bareUrl, bodies.slice(0, 50), headers, stopAt);

const phases: Record<"identify" | "bare", Phase[]> = { identify: [], bare: [] };
for (let round = 0; round < ROUNDS && Date.now() < stopAt; round++) {
  const order = round % 2 === 0 ? (["bare", "identify"] as const) : (["identify", "bare"] as const);
  for (const name of order) {
    phases[name].push(await phase(name === "bare" ? bareUrl : identifyUrl, bodies, headers, stopAt));
  }
}
await stack.stop();
agent.destroy();

const summary = (list: Phase[]) => {
  const count = list.reduce((n, p) => n + p.latencies.length, 0);
  const seconds = list.reduce((s, p) => s + p.seconds, 0);
  const latencies = list.flatMap((p) => p.latencies);
  const statuses: Record<string, number> = {};
  for (const p of list) for (const [status, n] of p.statuses) statuses[status] = (statuses[status] ?? 0) + n;
  return {
    count,
    perSecond: count / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    statuses,
  };
};
const identify = summary(phases.identify);
const bare = summary(phases.bare);
const ratio = median(phases.identify.map((p, round) => {
  const b = phases.bare[round]!;
  return (p.latencies.length / p.seconds) / (b.latencies.length / b.seconds);
}));
const allAccepted = identify.statuses["202"] === identify.count && bare.statuses["202"] === bare.count;
emit({
  id: "4",
  name:
    `Edge endpoint under wrangler dev, ${CONCURRENCY} in flight, ${ROUNDS} rounds × ${PER_PHASE} requests each`,
  figures: [
    {
      label: "POST /v1/identify",
      value: `${identify.perSecond.toFixed(0)} req/s, p50 ${identify.p50.toFixed(1)} ms, p99 ${
        identify.p99.toFixed(1)
      } ms`,
    },
    {
      label: "bare Hono handler (POST /bare)",
      value: `${bare.perSecond.toFixed(0)} req/s, p50 ${bare.p50.toFixed(1)} ms, p99 ${
        bare.p99.toFixed(1)
      } ms`,
    },
    {
      label: "statuses",
      value: `identify ${JSON.stringify(identify.statuses)}, bare ${JSON.stringify(bare.statuses)}`,
    },
    { label: "identify / bare req/s (median of per-round ratios)", value: ratio, unit: "×" },
  ],
  target: "≥ 0.5× the bare handler, every request 202",
  met: ratio >= 0.5 && allAccepted,
});
