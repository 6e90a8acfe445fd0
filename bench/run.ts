/**
 * `npm run bench`: every benchmark in sequence, each in its own process (so one run's garbage and
 * JIT state do not colour the next), then a summary table. Benchmarks report; they never fail:
 * this exits 0 whether targets are met or not (a benchmark that crashes is reported as such).
 *
 *   node --import tsx bench/run.ts              all of them, a few minutes on 2 cores
 *   node --import tsx bench/run.ts core size    only those whose name starts with these words
 */
import { execFileSync, spawn } from "node:child_process";
import { availableParallelism, cpus, totalmem } from "node:os";
import { type BenchResult, formatValue, RESULT_PREFIX } from "./measure.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const BIN = `${ROOT}node_modules/.bin`;
const TIMEOUT_MS = 600_000;
const TSX = ["node", "--import", "tsx"];

interface Step {
  readonly name: string;
  readonly command: string[];
}

const steps: Step[] = [
  { name: "core-node", command: [...TSX, "bench/core.bench.ts"] },
  { name: "core-deno", command: [`${BIN}/deno`, "run", "bench/core.bench.ts"] },
  { name: "core-bun", command: [`${BIN}/bun`, "bench/core.bench.ts"] },
  { name: "peer", command: [...TSX, "bench/peer.bench.ts"] },
  { name: "coalesce", command: [...TSX, "bench/coalesce.bench.ts"] },
  { name: "edge", command: [...TSX, "bench/edge.bench.ts"] },
  { name: "drain", command: [...TSX, "bench/drain.bench.ts"] },
  { name: "backlog", command: [...TSX, "bench/backlog.bench.ts"] },
  { name: "cli", command: [...TSX, "bench/cli.bench.ts"] },
  { name: "stream", command: [...TSX, "bench/stream.bench.ts"] },
  { name: "size", command: [...TSX, "bench/size.bench.ts"] },
  { name: "delta-edge", command: [...TSX, "bench/delta-edge.bench.ts"] },
  { name: "delta-cli", command: [...TSX, "bench/delta-cli.bench.ts"] },
  { name: "postgres", command: [...TSX, "bench/postgres.bench.ts"] },
  { name: "storage", command: [...TSX, "bench/storage.bench.ts"] },
];

const version = (command: string, args: string[]): string => {
  try {
    return execFileSync(command, args, { encoding: "utf8" }).trim().split("\n")[0]!;
  } catch {
    return "unavailable";
  }
};

const machine = [
  `date: ${new Date().toISOString()}`,
  `cpus: ${availableParallelism()} × ${cpus()[0]?.model ?? "unknown"}, memory ${
    (totalmem() / 2 ** 30).toFixed(0)
  } GiB`,
  `node ${process.version}, ${version(`${BIN}/deno`, ["--version"])}, bun ${
    version(`${BIN}/bun`, ["--version"])
  }`,
];
console.log(machine.join("\n"));

function runStep(step: Step): Promise<{ results: BenchResult[]; error?: string; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const [command, ...args] = step.command;
    const child = spawn(command!, args, {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const results: BenchResult[] = [];
    let stderr = "";
    let pending = "";
    child.stdout.on("data", (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (line.startsWith(RESULT_PREFIX)) results.push(JSON.parse(line.slice(RESULT_PREFIX.length)));
        else console.log(line);
      }
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      const failed = code !== 0 || results.length === 0;
      resolve({
        results,
        seconds,
        ...(failed
          ? { error: `exited ${signal ?? code}: ${stderr.trim().split("\n").slice(-3).join(" | ")}` }
          : {}),
      });
    });
  });
}

const filters = process.argv.slice(2);
const chosen = steps.filter((step) => filters.length === 0 || filters.some((f) => step.name.startsWith(f)));
const all: BenchResult[] = [];
const failures: string[] = [];
const startedAll = Date.now();
for (const step of chosen) {
  console.log(`\n=== ${step.name}: ${step.command.join(" ")}`);
  const { results, error, seconds } = await runStep(step);
  all.push(...results);
  console.log(`(${seconds.toFixed(1)} s)`);
  if (error !== undefined) failures.push(`${step.name}: ${error}`);
}

const verdict = (met: boolean | null) => (met === null ? "not measured" : met ? "met" : "MISSED");
console.log(`\n=== Summary (${((Date.now() - startedAll) / 1000).toFixed(0)} s)\n${machine.join("\n")}\n`);
console.log("| # | Benchmark | Figures | Target | Result |");
console.log("| --- | --- | --- | --- | --- |");
for (const result of all) {
  const figures = result.figures
    .map((f) => `${f.label}: ${formatValue(f.value)}${f.unit ? ` ${f.unit}` : ""}`)
    .join("<br>");
  console.log(`| ${result.id} | ${result.name} | ${figures} | ${result.target} | ${verdict(result.met)} |`);
}
for (const failure of failures) console.log(`| – | ${failure} | | | crashed |`);
// Benchmarks report; they never fail the build.
process.exitCode = 0;
