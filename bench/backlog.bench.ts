/**
 * Benchmark 8, a large backlog: 1,000,000 rows are posted to the Worker (`wrangler dev`, 100 bulk
 * bodies of 10,000 realistic users) while Userpilot (the sandbox) works at its real 1,200 rows a
 * minute, so the Durable Object ends up holding about a million pending rows. Measured: how fast
 * the Queue's batches merge, how long `GET /v1/status` takes while they merge (a merge that held
 * the object for seconds would show here), and how long it takes with the million rows pending.
 *
 *   node --import tsx bench/backlog.bench.ts        (BENCH_BACKLOG_ROWS to change the size)
 */
import { emit, median, percentile, sleep } from "./measure.ts";
import { realisticRows } from "./rows.ts";
import { DEV_ADMIN_KEY, DEV_INGEST_KEY, startBenchStack } from "./stack.ts";

const ROWS = Number(process.env["BENCH_BACKLOG_ROWS"] ?? 1_000_000);
const BODY_ROWS = 10_000;

type Status = { pending: { users: number }; rowsReceived: number };

const stack = await startBenchStack({ sandbox: { rowsPerMinute: 1200 } });
try {
  const status = async (): Promise<{ ms: number; status: Status }> => {
    const started = performance.now();
    const response = await fetch(`${stack.workerUrl}/v1/status`, {
      headers: { Authorization: `Bearer ${DEV_ADMIN_KEY}` },
    });
    const body = (await response.json()) as Status;
    return { ms: performance.now() - started, status: body };
  };

  // Watch the status the whole time, as an operator's dashboard would.
  const during: number[] = [];
  let loading = true;
  const watcher = (async () => {
    while (loading) {
      during.push((await status()).ms);
      await sleep(100);
    }
  })();

  const started = Date.now();
  for (let start = 0; start < ROWS; start += BODY_ROWS) {
    const rows = realisticRows(BODY_ROWS, BODY_ROWS, start + 1).map((row, i) => ({
      ...row,
      user_id: `backlog_${start + i}`,
    }));
    const response = await fetch(`${stack.workerUrl}/v1/users/bulk_identify`, {
      method: "POST",
      headers: { Authorization: `Bearer ${DEV_INGEST_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ users: rows }),
    });
    if (response.status !== 202) {
      throw new Error(`bulk POST answered ${response.status}: ${await response.text()}`);
    }
  }
  const posted = Date.now();
  console.log(`posted ${ROWS.toLocaleString("en-US")} rows in ${((posted - started) / 1000).toFixed(1)} s`);
  let merged = 0;
  let lastReport = 0;
  for (const deadline = Date.now() + 1_800_000; Date.now() < deadline;) {
    const { status: current, ms } = await status();
    if (current.rowsReceived >= ROWS) {
      merged = Date.now();
      break;
    }
    if (Date.now() - lastReport > 15_000) {
      lastReport = Date.now();
      console.log(
        `${((Date.now() - started) / 1000).toFixed(0)} s: ${
          current.rowsReceived.toLocaleString("en-US")
        } merged, ` +
          `status took ${ms.toFixed(0)} ms`,
      );
    }
    await sleep(250);
  }
  loading = false;
  await watcher;
  if (merged === 0) throw new Error("the Queue's batches did not all merge in time");

  const settled: number[] = [];
  let pending = 0;
  for (let i = 0; i < 15; i++) {
    const { ms, status: current } = await status();
    settled.push(ms);
    pending = current.pending.users;
    await sleep(200);
  }
  const mergeSeconds = (merged - started) / 1000;
  emit({
    id: "9",
    name: `A backlog of ${ROWS.toLocaleString("en-US")} rows in the Durable Object (wrangler dev)`,
    figures: [
      {
        label: `posted (${ROWS / BODY_ROWS} bodies of 10,000 rows, validated and queued)`,
        value: (posted - started) / 1000,
        unit: "s",
      },
      { label: "all merged into SQLite", value: mergeSeconds, unit: "s" },
      {
        label: "merge rate, first post → last batch merged",
        value: Math.round(ROWS / mergeSeconds),
        unit: "rows/s",
      },
      { label: "GET /v1/status while batches merge: median", value: median(during), unit: "ms" },
      { label: "… p99", value: percentile(during, 0.99), unit: "ms" },
      { label: "… slowest", value: Math.max(...during), unit: "ms" },
      {
        label: `GET /v1/status with ${pending.toLocaleString("en-US")} rows pending: median`,
        value: median(settled),
        unit: "ms",
      },
      { label: "… slowest", value: Math.max(...settled), unit: "ms" },
    ],
    target: "status within 1 s while holding 1,000,000 pending rows, and while merging",
    met: Math.max(...settled) < 1000 && Math.max(...during) < 1000,
  });
} finally {
  await stack.stop();
}
