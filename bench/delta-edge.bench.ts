/**
 * Benchmark 9a, delta delivery in the endpoint: 100,000 identify calls over 10,000 users through
 * the local stack (`wrangler dev`, the Worker, its Queue and Durable Object, the sandbox), where
 * 90% of the calls repeat a user's known values and 10% change one property. Every user was
 * identified once before (a warm-up, not counted), so "known" means Userpilot has it. The calls go
 * in 10 rounds of 10,000 (each user once a round, as bulk bodies of 1,000 calls), and each round
 * drains before the next, as hours apart would. A counting proxy between the Worker and the
 * sandbox measures the rows and property values sent to Userpilot; "without delta" is what the
 * object would have sent before (every merged row whole): the rows and values it sent plus those
 * it left out as unchanged, from its own counters.
 *
 *   node --import tsx bench/delta-edge.bench.ts
 */
import { serve } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { emit, sleep } from "./measure.ts";
import { type BenchRow, realisticRows } from "./rows.ts";
import { DEV_ADMIN_KEY, DEV_INGEST_KEY, startBenchStack } from "./stack.ts";

const USERS = 10_000;
const ROUNDS = 10;
const BODY_ROWS = 1_000;
const REPEAT_SHARE = 0.9;

type Status = {
  pending: { users: number };
  job: unknown;
  rowsReceived: number;
  rowsDelivered: number;
  rowsUnchanged: number;
  propertiesUnchanged: number;
};

/** Rows and values (metadata keys and companies) of the bulk bodies that pass, counted. */
const sent = { rows: 0, values: 0 };
let target = "";
const proxy = serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: async (request) => {
    const url = new URL(request.url);
    const body = request.method === "GET" || request.method === "HEAD" ? undefined : await request.text();
    if (body !== undefined && url.pathname.endsWith("/bulk_identify")) {
      const rows = (JSON.parse(body) as { users?: BenchRow[] }).users ?? [];
      sent.rows += rows.length;
      for (const row of rows) {
        sent.values += Object.keys(row.metadata ?? {}).length + (row.company_id ? 1 : 0);
      }
    }
    return fetch(`${target}${url.pathname}${url.search}`, {
      method: request.method,
      headers: request.headers,
      body: body ?? null,
    });
  },
});
await new Promise((resolve) => proxy.once("listening", resolve));
const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

const stack = await startBenchStack({
  vars: { USERPILOT_BASE_URL: proxyUrl, POLL_INTERVAL_MS: "20", ROWS_PER_MINUTE: "600000" },
  sandbox: { rowsPerMinute: 600_000, queueMs: 5 },
});
target = stack.sandboxUrl;

async function status(): Promise<Status> {
  const response = await fetch(`${stack.workerUrl}/v1/status`, {
    headers: { Authorization: `Bearer ${DEV_ADMIN_KEY}` },
  });
  return (await response.json()) as Status;
}

/** Post the calls as bulk bodies, then wait (bounded) until the object has delivered them all. */
async function round(rows: BenchRow[], received: number): Promise<void> {
  for (let start = 0; start < rows.length; start += BODY_ROWS) {
    const response = await fetch(`${stack.workerUrl}/v1/users/bulk_identify`, {
      method: "POST",
      headers: { Authorization: `Bearer ${DEV_INGEST_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ users: rows.slice(start, start + BODY_ROWS) }),
    });
    if (response.status !== 202) throw new Error(`bulk POST answered ${response.status}`);
  }
  const deadline = Date.now() + 300_000;
  for (;;) {
    const now = await status();
    if (now.rowsReceived >= received && now.pending.users === 0 && now.job === null) return;
    if (Date.now() > deadline) throw new Error(`not drained: ${JSON.stringify(now)}`);
    await sleep(200);
  }
}

try {
  // What Userpilot knows: every user, once (not counted).
  const known = realisticRows(USERS, USERS, 9).map((row) => ({ ...row, metadata: { ...row.metadata } }));
  let received = USERS;
  await round(known, received);
  const before = await status();
  Object.assign(sent, { rows: 0, values: 0 });

  // A small LCG, so every run makes the same calls.
  let seed = 12345;
  const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296;
  let calls = 0;
  let repeats = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const rows = known.map((row) => {
      calls++;
      if (random() < REPEAT_SHARE) {
        repeats++;
      } else {
        row.metadata = { ...row.metadata, tickets_pending: Math.floor(random() * 1e6) };
      }
      return { ...row, metadata: { ...row.metadata } };
    });
    received += rows.length;
    await round(rows, received);
  }
  const after = await status();
  const rowsLeftOut = after.rowsUnchanged - before.rowsUnchanged;
  const valuesLeftOut = after.propertiesUnchanged - before.propertiesUnchanged;
  const withoutRows = sent.rows + rowsLeftOut;
  const withoutValues = sent.values + valuesLeftOut;
  emit({
    id: "10a",
    name: "Delta delivery in the endpoint: 100,000 identify calls over 10,000 users, 90% repeats",
    figures: [
      {
        label: "calls",
        value: `${calls.toLocaleString("en-US")} (${(100 * repeats / calls).toFixed(1)}% repeats)`,
      },
      { label: "rows sent to Userpilot", value: sent.rows },
      { label: "rows without delta", value: withoutRows },
      { label: "values sent to Userpilot", value: sent.values },
      { label: "values without delta", value: withoutValues },
      {
        label: "rows / values saved",
        value: `${(100 * rowsLeftOut / withoutRows).toFixed(1)}% / ${
          (100 * valuesLeftOut / withoutValues).toFixed(1)
        }%`,
      },
      {
        label: "Userpilot time at 1,200 rows/min",
        value: `${(sent.rows / 1200).toFixed(0)} min instead of ${(withoutRows / 1200).toFixed(0)} min`,
      },
    ],
    target: "only changed rows and values are sent",
    met: sent.rows === calls - repeats,
  });
} finally {
  await stack.stop();
  await new Promise((resolve) => proxy.close(resolve));
}
