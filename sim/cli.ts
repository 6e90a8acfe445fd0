/**
 * `npm run simulate -- --seed N` (replay one seed, with its report) or
 * `npm run simulate -- --seeds N [--from S] [--days D] [--jobs J] [--stop-on-failure]` (N fresh
 * seeds from S, in J processes). Exits 1 if any seed failed, after naming each with how to replay
 * it.
 * @module
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { drawScenario } from "./scenario.ts";
import { type SimResult, simulate } from "./simulate.ts";
import { SQL_PROFILE } from "./sqlite-storage.ts";

const USAGE = `Usage: npm run simulate -- [options]

  --seed N             replay one seed, with its report (exit 1 if it fails)
  --seeds N            run N fresh seeds (default 100)
  --from S             the first of them (default 1)
  --days D             simulated days a seed runs at most (default 30)
  --jobs J             processes to share the seeds (default 1)
  --stop-on-failure    stop at the first failing seed
  --json               one JSON line per seed
  --quiet              only failures and the summary
  --help               this text

SIM_SEEDS=3,5,8 runs those seeds instead; docs/development.md, "The simulator", says more.`;

function parseOptions() {
  try {
    return parseArgs({
      options: {
        seed: { type: "string" },
        seeds: { type: "string" },
        from: { type: "string" },
        days: { type: "string" },
        jobs: { type: "string" },
        json: { type: "boolean" },
        quiet: { type: "boolean" },
        "stop-on-failure": { type: "boolean" },
        help: { type: "boolean" },
      },
    });
  } catch (error) {
    console.error(`simulate: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    process.exit(2);
  }
}

const { values } = parseOptions();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const number = (text: string | undefined, fallback: number): number => {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`simulate: ${text} is not a whole number`);
    process.exit(2);
  }
  return value;
};

const days = number(values.days, 30);

/** A seed whose run threw: a failure like any other, with the error. */
function crashed(seed: number, error: unknown): SimResult {
  const scenario = drawScenario(seed, days);
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return {
    seed,
    ok: false,
    scenario,
    problems: [`the simulation threw: ${stack.split("\n").slice(0, 4).join(" | ")}`],
    at: null,
    trace: [],
    stats: {
      days: scenario.days,
      events: 0,
      requests: 0,
      rowsQueued: 0,
      evictions: 0,
      userpilot: {},
      profilesChecked: 0,
      eventsChecked: 0,
      eventRepeats: 0,
      eventsLate: 0,
      maxDatabaseBytes: 0,
      drainMinutes: 0,
    },
  };
}

/** One line per seed as JSON (for the parent process), or a person's report. */
function report(result: SimResult, json = values.json): void {
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ ...result, scenario: { enabled: result.scenario.enabled } })}\n`,
    );
    return;
  }
  if (result.ok) {
    if (!values.quiet) {
      const s = result.stats;
      console.log(
        `seed ${result.seed}: ok — ${s.days} days, ${s.requests} requests, ${s.rowsQueued} rows, ` +
          `${s.events} events, ${s.evictions} evictions, drained in ${s.drainMinutes.toFixed(0)} min`,
      );
    }
    return;
  }
  console.log(
    `\nseed ${result.seed}: FAILED (replay: npm run simulate -- --seed ${result.seed} --days ${days})`,
  );
  console.log(`  enabled: ${result.scenario.enabled.join(", ")}`);
  console.log(`  first problem at ${result.at}:`);
  for (const problem of result.problems) console.log(`    - ${problem}`);
  console.log("  the events just before it:");
  for (const line of result.trace) console.log(`    ${line}`);
}

async function runSeeds(seeds: number[]): Promise<SimResult[]> {
  const results: SimResult[] = [];
  for (const seed of seeds) {
    const started = performance.now();
    const result = await simulate(seed, { maxDays: days }).catch((error: unknown) => crashed(seed, error));
    if (!values.json && !values.quiet) {
      process.stdout.write(`(${((performance.now() - started) / 1000).toFixed(1)} s) `);
    }
    report(result);
    results.push(result);
    if (!result.ok && values["stop-on-failure"]) break;
  }
  return results;
}

if (values.seed !== undefined) {
  const [result] = await runSeeds([number(values.seed, 0)]);
  if (!values.json && result!.ok) console.log(`  enabled: ${result!.scenario.enabled.join(", ")}`);
  if (SQL_PROFILE !== undefined) {
    const top = [...SQL_PROFILE].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15);
    for (const [query, { calls, ms }] of top) {
      console.error(
        `${ms.toFixed(0).padStart(7)} ms ${String(calls).padStart(8)}× ${query.replace(/\s+/g, " ")}`,
      );
    }
  }
  process.exit(result!.ok ? 0 : 1);
}

const count = number(values.seeds, 100);
const from = number(values.from, 1);
const jobs = Math.max(1, number(values.jobs, 1));
const started = Date.now();
const seeds = process.env["SIM_SEEDS"]
  ? process.env["SIM_SEEDS"].split(",").map(Number)
  : Array.from({ length: count }, (_, i) => from + i);
let results: SimResult[];
if (jobs === 1 || values.json) {
  results = await runSeeds(seeds);
} else {
  // Several processes, each a share of the seeds; their JSON lines come back here.
  const shares = Array.from({ length: jobs }, (_, j) => seeds.filter((_, i) => i % jobs === j));
  const script = fileURLToPath(import.meta.url);
  const parts = await Promise.all(
    shares.filter((share) => share.length > 0).map((share) =>
      new Promise<SimResult[]>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [
            ...process.execArgv,
            script,
            "--json",
            "--days",
            String(days),
            "--seeds",
            "1",
            "--from",
            "0",
            ...(values["stop-on-failure"] ? ["--stop-on-failure"] : []),
          ],
          { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, SIM_SEEDS: share.join(",") } },
        );
        // Each seed's line is reported as it arrives.
        const done: SimResult[] = [];
        let pending = "";
        child.stdout.setEncoding("utf8").on("data", (text: string) => {
          pending += text;
          const lines = pending.split("\n");
          pending = lines.pop() ?? "";
          for (const line of lines.filter((line) => line.startsWith("{"))) {
            const result = JSON.parse(line) as SimResult;
            done.push(result);
            report(result, false);
          }
        });
        child.stdin.end();
        child.once("error", reject);
        child.once("close", () => resolve(done));
      })
    ),
  );
  results = parts.flat().sort((a, b) => a.seed - b.seed);
}
const failed = results.filter((result) => !result.ok);
const total = (pick: (r: SimResult) => number) => results.reduce((sum, r) => sum + pick(r), 0);
const faults = (r: SimResult) =>
  Object.entries(r.stats.userpilot).filter(([k]) => !/^2\d\d$/.test(k)).reduce((sum, [, n]) => sum + n, 0) +
  r.stats.evictions;
console.log(
  `\n${results.length} seeds (${process.env["SIM_SEEDS"] ? "SIM_SEEDS" : `${from}…${from + count - 1}`}), ` +
    `${total((r) => r.stats.days)} simulated days, ` +
    `${total((r) => r.stats.requests)} requests, ${total((r) => r.stats.rowsQueued)} rows, ` +
    `${total((r) => r.stats.events)} events, ${total(faults)} faults drawn, ` +
    `${((Date.now() - started) / 1000).toFixed(1)} s: ${failed.length} failed` +
    (failed.length > 0 ? ` (seeds ${failed.map((r) => r.seed).join(", ")})` : ""),
);
process.exit(failed.length > 0 ? 1 : 0);
