/**
 * `npm run load`: a bounded load run against `wrangler dev` on loopback. Starts its own stack
 * (sandbox at an accelerated rate), sends LOAD_REQUESTS identify calls (default 3,000) with
 * LOAD_CONCURRENCY in flight (default 20), for at most LOAD_SECONDS (default 60), then waits for
 * the backlog to drain and checks every profile. Exits non-zero on any 5xx or any lost row.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEV_INGEST_KEY, freePort, startLocalStack } from "./local-stack.ts";

const REQUESTS = Number(process.env["LOAD_REQUESTS"] ?? 3000);
const CONCURRENCY = Number(process.env["LOAD_CONCURRENCY"] ?? 20);
const SECONDS = Number(process.env["LOAD_SECONDS"] ?? 60);
const USERS = Number(process.env["LOAD_USERS"] ?? 500);

const persist = mkdtempSync(join(tmpdir(), "userpilot-load-"));
const stack = await startLocalStack({
  workerPort: await freePort(),
  sandboxPort: await freePort(),
  rowsPerMinute: 600_000,
  persistTo: persist,
});
const headers = { Authorization: `Bearer ${DEV_INGEST_KEY}`, "Content-Type": "application/json" };
const latencies: number[] = [];
const statuses = new Map<number, number>();
const expected = new Map<string, Record<string, unknown>>();
let next = 0;
const stopAt = Date.now() + SECONDS * 1000;
const started = performance.now();

// Lane k sends users ≡ k (mod CONCURRENCY), so each user's calls are causally ordered.
await Promise.all(
  Array.from({ length: CONCURRENCY }, async (_, lane) => {
    for (let i = lane; i < REQUESTS && Date.now() < stopAt; i += CONCURRENCY) {
      next++;
      const userId = `load_${(i % USERS) - ((i % USERS) % CONCURRENCY) + lane}`;
      const metadata = { seq: i, plan: i % 2 === 0 ? "pro" : "free" };
      const t0 = performance.now();
      let status = 0;
      try {
        const response = await fetch(`${stack.workerUrl}/v1/identify`, {
          method: "POST",
          headers,
          body: JSON.stringify({ user_id: userId, metadata }),
        });
        status = response.status;
        await response.arrayBuffer();
      } catch {
        status = 0;
      }
      latencies.push(performance.now() - t0);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status === 202) expected.set(userId, { ...expected.get(userId), ...metadata });
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(1);
console.log(
  `${next} requests in ${elapsed.toFixed(1)} s: ${(next / elapsed).toFixed(0)} req/s, p50 ${
    pct(0.5)
  } ms, p99 ${pct(0.99)} ms`,
);
console.log(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);

let lost = -1;
const deadline = Date.now() + 120_000;
while (Date.now() < deadline) {
  const profiles = (await (await fetch(`${stack.sandboxUrl}/__sandbox/users`)).json()) as {
    user_id: string;
    metadata: Record<string, unknown>;
  }[];
  const byId = new Map(profiles.map((profile) => [profile.user_id, profile.metadata]));
  lost = [...expected].filter(([id, metadata]) =>
    JSON.stringify(byId.get(id)) !== JSON.stringify(metadata)
  ).length;
  if (lost === 0) break;
  await new Promise((resolve) => setTimeout(resolve, 500));
}
console.log(`profiles checked: ${expected.size}; not matching the merge of what was accepted: ${lost}`);
await stack.stop();
rmSync(persist, { recursive: true, force: true });
const serverErrors = [...statuses].filter(([status]) => status >= 500 || status === 0).reduce(
  (n, [, count]) => n + count,
  0,
);
if (serverErrors > 0 || lost !== 0) {
  console.log(`FAILED: ${serverErrors} 5xx or failed requests, ${lost} lost or stale profiles`);
  process.exitCode = 1;
} else {
  console.log("OK: zero 5xx, zero lost rows");
}
