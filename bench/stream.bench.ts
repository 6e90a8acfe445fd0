/**
 * Benchmark 8, streaming: examples/deno-stream.ts (a Deno script that also runs as is on Node and
 * Bun) streams 1,000,000 generated users from an async generator through `bulkIdentifyUsers` into
 * the sandbox, on each runtime. Peak RSS of the script's process from GNU time, rows/s from the
 * script's own summary, and the sandbox's counters to check that every row was applied.
 *
 * The sandbox runs in this process (the script's RSS is measured alone) at an accelerated rate,
 * BENCH_STREAM_RATE rows a minute (default 3,000,000: 2,500× Userpilot's 1,200, so a 10,000-row job
 * takes 200 ms instead of about 8 minutes), with a 20 ms queue delay per job; the script polls every
 * 50 ms instead of 5 s (and just after a job's projected end, as always).
 *
 *   node --import tsx bench/stream.bench.ts
 */
import { serve } from "@hono/node-server";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSandbox, SANDBOX_API_KEY } from "../src/sandbox/mod.ts";
import { bundleForNode, timedChild } from "./child.ts";
import { emit, type Figure } from "./measure.ts";

const USERS = Number(process.env["BENCH_STREAM_USERS"] ?? 1_000_000);
const RATE = Number(process.env["BENCH_STREAM_RATE"] ?? 3_000_000);
const ROOT = new URL("..", import.meta.url).pathname;
const SCRIPT = join(ROOT, "examples/deno-stream.ts");
const TIME = "/usr/bin/time";
const TARGET_MB = 150;

if (!existsSync(TIME)) {
  emit({
    id: "8",
    name: "Streaming: 1,000,000 users from an async generator through bulkIdentifyUsers",
    figures: [{ label: "TODO", value: `${TIME} (GNU time) is needed to read peak RSS` }],
    target: `peak RSS ≤ ${TARGET_MB} MB`,
    met: null,
  });
  process.exit(0);
}

const sandbox = createSandbox({ rowsPerMinute: RATE, queueMs: 20 });
const server = serve({ fetch: sandbox.fetch, hostname: "127.0.0.1", port: 0 });
await new Promise((resolve) => server.once("listening", resolve));
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const inspect = async <T>(path: string, method = "GET"): Promise<T> =>
  (await (await sandbox.fetch(new Request(`${baseUrl}${path}`, { method }))).json()) as T;

type Run = {
  peakMb: number;
  seconds: number;
  summary: { rowsPerSecond: number; jobs: number; rejected: number };
};

/** Run the script under GNU time (asynchronously: the sandbox it calls lives in this process). */
async function timed(command: string, args: string[]): Promise<Run> {
  const env = {
    ...process.env,
    USERPILOT_API_KEY: SANDBOX_API_KEY,
    USERPILOT_BASE_URL: baseUrl,
    USERS: String(USERS),
    POLL_INTERVAL_MS: "50",
  };
  const child = await timedChild(command, args, { cwd: ROOT, env });
  const line = child.stdout.trim().split("\n").at(-1);
  if (line === undefined || !line.startsWith("{")) {
    throw new Error(`${command} failed:\n${child.stderr.slice(-2000)}`);
  }
  return { peakMb: child.peakMb, seconds: child.seconds, summary: JSON.parse(line) };
}

const dir = mkdtempSync(join(tmpdir(), "userpilot-stream-bench-"));
const results: { name: string; run: Run; applied: number; checked: boolean }[] = [];
try {
  // Node runs it as a user runs built code: one bundled file, no TypeScript loader in the process.
  const bundle = await bundleForNode(SCRIPT, join(dir, "deno-stream.mjs"));
  const runtimes: [string, string, string[]][] = [
    ["Node (no flags)", "node", [bundle]],
    ["Deno (no flags)", join(ROOT, "node_modules/.bin/deno"), [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env",
      SCRIPT,
    ]],
    ["Bun (no flags)", join(ROOT, "node_modules/.bin/bun"), [SCRIPT]],
    // As the CLI's launchers run it: the engine collects sooner (informational).
    ["Node with --optimize-for-size", "node", ["--optimize-for-size", bundle]],
    ["Deno with --v8-flags=--optimize-for-size", join(ROOT, "node_modules/.bin/deno"), [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "--v8-flags=--optimize-for-size",
      SCRIPT,
    ]],
  ];
  for (const [name, command, args] of runtimes) {
    await inspect("/__sandbox/reset", "POST");
    const run = await timed(command, args);
    const stats = await inspect<{ rows: { applied: number }; jobs: { completed: number } }>(
      "/__sandbox/stats",
    );
    // Spot checks: the first, a middle and the last user hold what the generator made.
    let checked = true;
    for (const i of [0, Math.floor(USERS / 2), USERS - 1]) {
      const profile = await inspect<{ metadata?: { email?: string; seats?: number } }>(
        `/__sandbox/users/stream_user_${i}`,
      );
      checked &&= profile.metadata?.email === `user${i}@example.com` &&
        profile.metadata.seats === (i % 50) + 1;
    }
    results.push({ name, run, applied: stats.rows.applied, checked });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  await new Promise((resolve) => server.close(resolve));
}

const ceiling = RATE / 60;
const figures: Figure[] = [{
  label: "sandbox",
  value: `${RATE.toLocaleString("en-US")} rows/min (${
    (RATE / 1200).toLocaleString("en-US")
  }× Userpilot's 1,200), 20 ms queue delay a job: at most ${
    Math.round(ceiling).toLocaleString("en-US")
  } rows/s`,
}];
for (const { name, run, applied, checked } of results) {
  figures.push({
    label: name,
    value: `peak RSS ${run.peakMb.toFixed(0)} MB, ${
      run.summary.rowsPerSecond.toLocaleString("en-US")
    } rows/s (${
      (run.summary.rowsPerSecond / ceiling).toFixed(2)
    } of the sandbox's rate), ${run.summary.jobs} jobs, ${applied.toLocaleString("en-US")} rows applied${
      checked ? "" : ", SPOT CHECK FAILED"
    }`,
  });
}
emit({
  id: "8",
  name: `Streaming: ${USERS.toLocaleString("en-US")} users from an async generator through bulkIdentifyUsers`,
  figures,
  target: `peak RSS ≤ ${TARGET_MB} MB on each runtime with no engine flags, every row applied`,
  met: results.length === 5 &&
    results.every((r) => r.applied === USERS && r.checked && r.run.summary.rejected === 0) &&
    results.filter((r) => r.name.endsWith("(no flags)")).every((r) => r.run.peakMb <= TARGET_MB),
  notes: ["the script: examples/deno-stream.ts, the same file on all three runtimes"],
});
