/**
 * Benchmark 9b, delta delivery in the CLI: a 1,000,000-row NDJSON file of realistic users synced
 * twice with `--state` against the sandbox on loopback (processing as fast as it can), 1% of the
 * rows changed before the second run. Reports the rows sent by each run, the time the second run
 * saves at Userpilot's 1,200 rows a minute, each run's peak RSS (GNU time) and the time to load
 * the state file of a million ids.
 *
 *   node --import tsx bench/delta-cli.bench.ts
 */
import { serve } from "@hono/node-server";
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeliveredState } from "../src/cli/state-file.ts";
import { createSandbox } from "../src/sandbox/mod.ts";
import { bundleForNode, cliToSandbox } from "./child.ts";
import { emit } from "./measure.ts";
import { realisticRows } from "./rows.ts";

const ROWS = Number(process.env["BENCH_DELTA_ROWS"] ?? 1_000_000);
const CHANGED_EVERY = 100; // 1% of rows change before the second run
const USERPILOT_ROWS_PER_MINUTE = 1200;
const ROOT = new URL("..", import.meta.url).pathname;

/** The file; with `changed`, every 100th row has a new plan. */
function writeFile(path: string, changed: boolean): void {
  const fd = openSync(path, "w");
  for (let start = 0; start < ROWS; start += 10_000) {
    const block = realisticRows(Math.min(10_000, ROWS - start), 10_000, start + 1);
    const lines = block.map((row, i) => {
      const n = start + i;
      const metadata = changed && n % CHANGED_EVERY === 0
        ? { ...row.metadata, plan: "changed" }
        : row.metadata;
      return JSON.stringify({ ...row, user_id: `user_${n}`, metadata });
    });
    writeSync(fd, `${lines.join("\n")}\n`);
  }
  closeSync(fd);
}

const dir = mkdtempSync(join(tmpdir(), "userpilot-delta-bench-"));
try {
  const file = join(dir, "users.ndjson");
  const state = join(dir, "users.state");
  writeFile(file, false);
  const bundle = await bundleForNode(join(ROOT, "src/cli/main.ts"), join(dir, "cli.mjs"));
  const sandbox = createSandbox({ rowsPerMinute: 1e12, queueMs: 0 });
  const server = serve({ fetch: sandbox.fetch, hostname: "127.0.0.1", port: 0 });
  await new Promise((resolve) => server.once("listening", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const received = async () =>
    ((await (await sandbox.fetch(new Request(`${baseUrl}/__sandbox/stats`))).json()) as {
      rows: { received: number };
    }).rows.received;

  /** One run as the bin launches it; the rows the sandbox received, the summary, peak RSS. */
  const sync = async () => {
    const before = await received();
    const child = await cliToSandbox(bundle, [file, "--state", state], baseUrl, ROOT);
    const summary = child.summary as { rowsUnchanged: number; propertiesUnchanged: number };
    return { sent: (await received()) - before, summary, peakMb: child.peakMb, seconds: child.seconds };
  };

  const first = await sync();
  writeFile(file, true);
  const second = await sync();
  await new Promise((resolve) => server.close(resolve));

  // Loading the state file of a million ids, in this process (best of three).
  const loads: number[] = [];
  let ids = 0;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    ids = DeliveredState.open(state, { shaping: JSON.stringify(["users", [], false]) }).size;
    loads.push(performance.now() - started);
  }
  const loadMs = Math.min(...loads);
  const stateMb = statSync(state).size / 1e6;
  const savedMinutes = (first.sent - second.sent) / USERPILOT_ROWS_PER_MINUTE;
  emit({
    id: "10b",
    name: `Delta delivery in the CLI: a ${ROWS.toLocaleString("en-US")}-row file synced twice, 1% changed`,
    figures: [
      { label: "first run: rows sent", value: first.sent },
      { label: "second run: rows sent", value: second.sent },
      {
        label: "second run: left out as unchanged",
        value: `${second.summary.rowsUnchanged.toLocaleString("en-US")} rows, ${
          second.summary.propertiesUnchanged.toLocaleString("en-US")
        } properties`,
      },
      {
        label: "time saved at 1,200 rows/min",
        value: `${(savedMinutes / 60).toFixed(1)} hours (${
          (first.sent / USERPILOT_ROWS_PER_MINUTE / 60).toFixed(1)
        } h → ${(second.sent / USERPILOT_ROWS_PER_MINUTE / 60).toFixed(2)} h)`,
      },
      { label: "peak RSS, first run (builds the state)", value: first.peakMb, unit: "MB" },
      { label: "peak RSS, second run (loads it)", value: second.peakMb, unit: "MB" },
      {
        label: "wall time, first / second run on loopback",
        value: `${first.seconds} s / ${second.seconds} s`,
      },
      { label: "state file", value: `${ids.toLocaleString("en-US")} ids, ${stateMb.toFixed(1)} MB` },
      { label: "state file load (best of 3)", value: loadMs, unit: "ms" },
    ],
    target: "2nd run sends only the changed rows; state loads < 1 s; peak RSS ≤ 150 MB",
    met: second.sent === Math.ceil(ROWS / CHANGED_EVERY) && loadMs < 1000 &&
      Math.max(first.peakMb, second.peakMb) <= 150,
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
