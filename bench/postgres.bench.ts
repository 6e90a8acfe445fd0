/**
 * Benchmark 11, syncing straight from PostgreSQL: a 1,000,000-row table of realistic users (a
 * throwaway PostgreSQL 15, as the tests start it) sent by `userpilot-bulk users --from-postgres`
 * to the sandbox on loopback (processing as fast as it can), on Node (the bundled CLI as the bin
 * launches it), Deno (as its task runs it) and Bun (with the RAM hint docs/cli.md gives); then,
 * on Node, two syncs with `--state`, 1% of the rows changed between them. Peak RSS from GNU time,
 * rows/s from the CLI's own summary, rows sent from the sandbox's count.
 *
 *   node --import tsx bench/postgres.bench.ts
 */
import { serve } from "@hono/node-server";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import postgres from "postgres";
import { createSandbox, SANDBOX_API_KEY } from "../src/sandbox/mod.ts";
import { startPostgres } from "../test/support/postgres.ts";
import { bundleForNode, timedChild } from "./child.ts";
import { emit, type Figure } from "./measure.ts";

const ROWS = Number(process.env["BENCH_POSTGRES_ROWS"] ?? 1_000_000);
const CHANGED_EVERY = 100;
const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = join(ROOT, "src/cli/main.ts");
const BIN = join(ROOT, "node_modules/.bin");
const QUERY =
  "select id as user_id, company_id, name, email, plan, seats, mrr, active, last_seen from accounts";

const server = await startPostgres();
const dir = mkdtempSync(join(tmpdir(), "userpilot-pg-bench-"));
const sandbox = createSandbox({ rowsPerMinute: 1e12, queueMs: 0 });
const http = serve({ fetch: sandbox.fetch, hostname: "127.0.0.1", port: 0 });
try {
  if (!http.listening) await new Promise((resolve) => http.once("listening", resolve));
  const admin = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`
    create table accounts as select
      'user_' || lpad(g::text, 7, '0') as id, 'company_' || (g % 5000) as company_id,
      'Name ' || g as name, 'user' || g || '@example.com' as email,
      (array['free', 'pro', 'team', 'enterprise'])[1 + g % 4] as plan, g % 200 as seats,
      (g % 1000) * 1.25 as mrr, g % 3 = 0 as active,
      timestamptz '2024-01-01' + g * interval '1 minute' as last_seen
    from generate_series(1, ${ROWS}) g;
    alter table accounts add primary key (id);
    grant select on accounts to userpilot_sync;
  `).simple();
  const baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const received = async (): Promise<number> =>
    ((await (await sandbox.fetch(new Request(`${baseUrl}/__sandbox/stats`))).json()) as {
      rows: { received: number };
    }).rows.received;
  const bundle = await bundleForNode(MAIN, join(dir, "cli.mjs"));
  const args = (extra: string[] = []) => [
    "users",
    "--from-postgres",
    "env:DATABASE_URL",
    "--query",
    QUERY,
    "--json",
    "--base-url",
    baseUrl,
    "--poll-interval",
    "1",
    ...extra,
  ];
  const env = { ...process.env, USERPILOT_API_KEY: SANDBOX_API_KEY, DATABASE_URL: server.url };
  const launchers: Record<string, { command: string; argv: string[]; env?: Record<string, string> }> = {
    node: { command: "node", argv: ["--optimize-for-size", bundle] },
    deno: {
      command: join(BIN, "deno"),
      argv: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-net",
        "--allow-env",
        "--v8-flags=--optimize-for-size",
        MAIN,
      ],
    },
    bun: { command: join(BIN, "bun"), argv: [MAIN], env: { BUN_JSC_forceRAMSize: "134217728" } },
  };
  /** One sync: the CLI's summary, its peak RSS and wall time, and the rows the sandbox received. */
  const sync = async (runtime: string, extra: string[] = []) => {
    const launcher = launchers[runtime]!;
    const before = await received();
    const child = await timedChild(launcher.command, [...launcher.argv, ...args(extra)], {
      cwd: ROOT,
      env: { ...env, ...launcher.env },
    });
    const line = child.stdout.trim().split("\n").findLast((l) => l.includes('"type":"summary"'));
    if (line === undefined) throw new Error(`${runtime} failed:\n${child.stderr.slice(-2000)}`);
    const summary = JSON.parse(line) as {
      status: string;
      rowsRead: number;
      rowsUnchanged: number;
      elapsedMs: number;
    };
    return { summary, peakMb: child.peakMb, seconds: child.seconds, sent: (await received()) - before };
  };

  const figures: Figure[] = [{ label: "table", value: `${ROWS.toLocaleString("en-US")} rows, 9 columns` }];
  const peaks: number[] = [];
  let allSent = true;
  for (const runtime of Object.keys(launchers)) {
    const run = await sync(runtime);
    peaks.push(run.peakMb);
    allSent &&= run.summary.status === "completed" && run.sent === ROWS;
    figures.push({
      label: `sent to the sandbox on ${runtime}`,
      value: `peak RSS ${run.peakMb.toFixed(0)} MB, ${
        Math.round(run.summary.rowsRead / (run.summary.elapsedMs / 1000)).toLocaleString("en-US")
      } rows/s, ${run.sent.toLocaleString("en-US")} rows received by the sandbox (${run.summary.status})`,
    });
  }

  const state = join(dir, "users.state");
  const first = await sync("node", ["--state", state]);
  await admin.unsafe(`update accounts set plan = 'changed' where right(id, 2) = '00'`);
  await admin.end();
  const second = await sync("node", ["--state", state]);
  figures.push(
    { label: "--state, first sync: rows sent", value: first.sent },
    {
      label: `--state, second sync with 1% changed: rows sent`,
      value: `${second.sent.toLocaleString("en-US")} (${
        second.summary.rowsUnchanged.toLocaleString("en-US")
      } left out as unchanged), peak RSS ${second.peakMb.toFixed(0)} MB, ${second.seconds} s`,
    },
  );
  emit({
    id: "11",
    name: `Sync from PostgreSQL: a ${ROWS.toLocaleString("en-US")}-row table to the sandbox`,
    figures,
    target:
      "every row sent on Node, Deno and Bun, peak RSS ≤ 150 MB; the 2nd --state sync sends only the 1% changed",
    met: allSent && peaks.every((mb) => mb <= 150) && second.sent === Math.ceil(ROWS / CHANGED_EVERY),
  });
} finally {
  await new Promise((resolve) => http.close(resolve));
  server.stop();
  rmSync(dir, { recursive: true, force: true });
}
