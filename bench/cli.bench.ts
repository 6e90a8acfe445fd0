/**
 * Benchmark 6, large files: the CLI (src/cli/main.ts, as a user runs the built package: bundled
 * to one file) on a 1,000,000-row NDJSON file of realistic users, in `--dry-run` on Node, Bun and
 * Deno, then for real against the sandbox on loopback (processing as fast as it can). Peak RSS
 * comes from GNU time (`/usr/bin/time -f %M`), rows/s from the CLI's own `--json` summary.
 *
 *   node --import tsx bench/cli.bench.ts
 */
import { serve } from "@hono/node-server";
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSandbox } from "../src/sandbox/mod.ts";
import { bundleForNode, cliToSandbox } from "./child.ts";
import { emit, type Figure } from "./measure.ts";
import { realisticRows } from "./rows.ts";

const ROWS = Number(process.env["BENCH_CLI_ROWS"] ?? 1_000_000);
const SANDBOX_ROWS = Number(process.env["BENCH_CLI_SANDBOX_ROWS"] ?? 1_000_000);
const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = join(ROOT, "src/cli/main.ts");
const TIME = "/usr/bin/time";

function todo(reason: string): never {
  emit({
    id: "6",
    name: "Large files: the CLI on a 1,000,000-row NDJSON file",
    figures: [{ label: "TODO", value: reason }],
    target: "peak RSS ≤ 150 MB",
    met: null,
  });
  process.exit(0);
}

if (!existsSync(MAIN)) todo("src/cli/main.ts does not exist yet");
const help = spawnSync("node", ["--import", "tsx", MAIN, "--help"], { cwd: ROOT, encoding: "utf8" });
if (!help.stdout.includes("--dry-run")) todo("the CLI does not offer --dry-run yet");
if (!existsSync(TIME)) todo(`${TIME} (GNU time) is needed to read peak RSS`);

const dir = mkdtempSync(join(tmpdir(), "userpilot-cli-bench-"));
try {
  // The file: the seed's fields, varied; one row in 50 repeats an earlier user (merged by id).
  const file = join(dir, "users.ndjson");
  const fd = openSync(file, "w");
  for (let start = 0; start < ROWS; start += 10_000) {
    const block = realisticRows(Math.min(10_000, ROWS - start), 10_000, start + 1);
    const lines = block.map((row, i) => {
      const n = start + i;
      return JSON.stringify({ ...row, user_id: `user_${n % 50 === 49 ? n - 7 : n}` });
    });
    writeSync(fd, `${lines.join("\n")}\n`);
  }
  closeSync(fd);
  const fileMb = statSync(file).size / 1e6;

  // As a user runs the built package: one bundled file, no TypeScript loader in the process.
  const bundle = await bundleForNode(MAIN, join(dir, "cli.mjs"));

  type Summary = {
    rowsRead: number;
    rowsRejected: number;
    rowsPlanned: number;
    jobs: number;
    elapsedMs: number;
  };
  const run = (command: string[], env: Record<string, string> = {}) => {
    const result = spawnSync(TIME, ["-f", "TIME %M %e", ...command], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    const time = /TIME (\d+) ([\d.]+)/.exec(result.stderr);
    const summaryLine = result.stdout.trim().split("\n").findLast((line) =>
      line.includes('"type":"summary"')
    );
    if (time === null || summaryLine === undefined) {
      throw new Error(`${command.join(" ")} failed (${result.status}):\n${result.stderr.slice(-2000)}`);
    }
    const summary = JSON.parse(summaryLine) as Summary;
    // With --trace-gc, the largest heap left after a full (mark-compact) GC: the live data.
    const live = [...result.stdout.matchAll(/Mark-Compact [\d.]+ \([\d.]+\) -> ([\d.]+) \(/g)].map((m) =>
      Number(m[1])
    );
    return {
      peakMb: Number(time[1]) / 1024,
      seconds: Number(time[2]),
      summary,
      liveMb: live.length > 0 ? Math.max(...live) : undefined,
    };
  };
  const args = ["users", file, "--dry-run", "--json"];
  // As the launchers run it: the npm bin (`node`; the CLI sets `--optimize-for-size` itself),
  // `deno task cli` (`--v8-flags=--optimize-for-size`), and Bun with the RAM hint docs/cli.md gives.
  const runs = {
    node: run(["node", "--trace-gc", bundle, ...args]),
    bun: run([join(ROOT, "node_modules/.bin/bun"), MAIN, ...args], { BUN_JSC_forceRAMSize: "134217728" }),
    deno: run([
      join(ROOT, "node_modules/.bin/deno"),
      "run",
      "--allow-read",
      "--allow-env",
      "--v8-flags=--optimize-for-size",
      MAIN,
      ...args,
    ]),
  };
  // For comparison only (no launcher runs it so): the engine's own heuristics, the CLI's setting
  // turned off. `node dist/src/cli/main.js` is the bin's run above.
  const withoutSetting = run(["node", "--no-optimize-for-size", bundle, ...args]);

  // For real, against the sandbox on loopback (processing as fast as it can).
  const sandbox = createSandbox({ rowsPerMinute: 1e12, queueMs: 0 });
  const server = serve({ fetch: sandbox.fetch, hostname: "127.0.0.1", port: 0 });
  await new Promise((resolve) => server.once("listening", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let sent: ReturnType<typeof run> | undefined;
  let sandboxRows = 0;
  if (SANDBOX_ROWS > 0) {
    const sendFile = SANDBOX_ROWS === ROWS ? file : join(dir, "head.ndjson");
    if (sendFile !== file) {
      spawnSync("sh", ["-c", `head -n ${SANDBOX_ROWS} '${file}' > '${sendFile}'`]);
    }
    // The sandbox runs in this process, so the CLI must not block it: spawn asynchronously.
    const child = await cliToSandbox(bundle, [sendFile], baseUrl, ROOT);
    sent = {
      peakMb: child.peakMb,
      seconds: child.seconds,
      summary: child.summary as unknown as Summary,
      liveMb: undefined,
    };
    const stats = (await (await sandbox.fetch(new Request(`${baseUrl}/__sandbox/stats`))).json()) as {
      rows: { received: number };
    };
    sandboxRows = stats.rows.received;
  }
  await new Promise((resolve) => server.close(resolve));

  const rate = (r: { summary: Summary }) => r.summary.rowsRead / (r.summary.elapsedMs / 1000);
  const figures: Figure[] = [{
    label: "input",
    value: `${ROWS.toLocaleString("en-US")} rows, ${fileMb.toFixed(0)} MB NDJSON`,
  }];
  for (const [name, r] of Object.entries({ ...runs, "node --no-optimize-for-size": withoutSetting })) {
    figures.push({
      label: `--dry-run on ${name}`,
      value: `peak RSS ${r.peakMb.toFixed(0)} MB, ${Math.round(rate(r)).toLocaleString("en-US")} rows/s, ${
        r.summary.rowsPlanned.toLocaleString("en-US")
      } rows in ${r.summary.jobs} jobs${
        r.liveMb === undefined ? "" : `; live heap after full GCs at most ${r.liveMb.toFixed(0)} MB`
      }`,
    });
  }
  if (sent !== undefined) {
    figures.push({
      label: `sent to the sandbox on node (${SANDBOX_ROWS.toLocaleString("en-US")} rows)`,
      value: `peak RSS ${sent.peakMb.toFixed(0)} MB, ${
        Math.round(rate(sent)).toLocaleString("en-US")
      } rows/s, ${
        sandboxRows.toLocaleString("en-US")
      } rows received by the sandbox in ${sent.summary.jobs} jobs`,
    });
  }
  // The target applies to every run as a launcher starts it.
  const peaks = [...Object.values(runs), ...(sent ? [sent] : [])].map((r) => r.peakMb);
  emit({
    id: "6",
    name: "Large files: the CLI on a 1,000,000-row NDJSON file",
    figures,
    target: "peak RSS ≤ 150 MB",
    met: peaks.every((mb) => mb <= 150) && Object.values(runs).every((r) => r.summary.rowsRead === ROWS),
    notes: ["every row of the file is read and planned; one in 50 repeats an earlier id and is merged"],
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
