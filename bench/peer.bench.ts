/**
 * Benchmark 2, against a peer SDK: identify calls per second delivered to a local HTTP sink by
 * our client (`UserpilotClient.bulkIdentifyUsers`, jobs polled every millisecond) versus
 * `@segment/analytics-node` configured for its largest batches, same rows, same sink, in
 * alternating rounds. Node only (the peer is a Node SDK).
 *
 *   node --import tsx bench/peer.bench.ts
 */
import { Analytics } from "@segment/analytics-node";
import { UserpilotClient } from "../mod.ts";
import { emit, median } from "./measure.ts";
import { realisticRows } from "./rows.ts";
import { startSink } from "./sink.ts";

const CALLS = Number(process.env["BENCH_PEER_CALLS"] ?? 20_000);
const ROUNDS = Number(process.env["BENCH_PEER_ROUNDS"] ?? 3);

const rows = realisticRows(CALLS);
const sink = await startSink();

async function ours(): Promise<number> {
  sink.reset();
  const client = new UserpilotClient({ apiKey: "bench-key", baseUrl: sink.url, pollIntervalMs: 1 });
  const started = performance.now();
  const { jobs, rejected } = await client.bulkIdentifyUsers(rows);
  const elapsed = performance.now() - started;
  if (rejected.length > 0 || sink.counts.bulkRows !== CALLS) {
    throw new Error(`ours delivered ${sink.counts.bulkRows} of ${CALLS} rows (${jobs.length} jobs)`);
  }
  return elapsed;
}

async function peer(): Promise<number> {
  sink.reset();
  // Its largest batches: no event-count limit (flushAt / maxEventsInBatch as high as they go),
  // so only Segment's own 480 KB batch ceiling cuts them; no timer flushes in between.
  const analytics = new Analytics({
    writeKey: "bench-key",
    host: sink.url,
    path: "/v1/batch",
    flushAt: Number.MAX_SAFE_INTEGER,
    maxEventsInBatch: Number.MAX_SAFE_INTEGER,
    flushInterval: 60_000,
  });
  const started = performance.now();
  for (const row of rows) {
    analytics.identify({ userId: row.user_id, traits: { ...row.metadata, company_id: row.company_id } });
  }
  await analytics.closeAndFlush({ timeout: 120_000 });
  const elapsed = performance.now() - started;
  if (sink.counts.batchEvents !== CALLS) {
    throw new Error(`the peer delivered ${sink.counts.batchEvents} of ${CALLS} events`);
  }
  return elapsed;
}

// One untimed run of each warms the JIT and the loopback connections.
await ours();
await peer();
const oursMs: number[] = [];
const peerMs: number[] = [];
let peerRequests = 0;
let oursRequests = 0;
for (let round = 0; round < ROUNDS; round++) {
  oursMs.push(await ours());
  oursRequests = sink.counts.requests;
  peerMs.push(await peer());
  peerRequests = sink.counts.requests;
}
await sink.close();

const perSecond = (ms: number) => CALLS / (ms / 1000);
const ratio = median(oursMs.map((ms, round) => peerMs[round]! / ms));
emit({
  id: "2",
  name: `Against a peer SDK: ${
    CALLS.toLocaleString("en-US")
  } identify calls to a loopback sink (node ${process.versions.node})`,
  figures: [
    { label: "ours: UserpilotClient.bulkIdentifyUsers", value: perSecond(median(oursMs)), unit: "calls/s" },
    {
      label: "peer: @segment/analytics-node 3.1.0, largest batches",
      value: perSecond(median(peerMs)),
      unit: "calls/s",
    },
    {
      label: "HTTP requests per run, ours (POST + polls) / peer",
      value: `${oursRequests} / ${peerRequests}`,
    },
    { label: "ours / peer (median of per-round ratios)", value: ratio, unit: "×" },
  ],
  target: "≥ 5× the peer",
  met: ratio >= 5,
});
