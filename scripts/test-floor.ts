/**
 * `npm run test:floor`: the core's contract suite and the CLI tests (`vitest.floor.config.ts`) on
 * each older Node line the package promises (20 and 22; the rest of `npm test` runs on 24). The
 * CLI runs on the floor Node (the tests start it with `process.execPath`); wrangler, where a test
 * needs the Worker, still runs on the Node first on PATH. A line with no binary here is skipped
 * with a line saying so, or fails the run when `CI` is set.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { floorNodes, runningInCI } from "./toolchain.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const VITEST = join(ROOT, "node_modules/vitest/vitest.mjs");

/** How a run ended: what it printed (when held), and a failure to report, if any. */
export interface Finished {
  readonly output: string;
  readonly failure?: string;
}

/**
 * `node vitest run args` from the repository's root, its output passed through as it comes, or
 * held (`hold`) and returned whole, so that runs at the same time do not mix their lines.
 */
export function runVitest(
  node: string,
  args: readonly string[],
  label: string,
  hold: boolean,
): Promise<Finished> {
  return new Promise((resolve) => {
    const child = spawn(node, [VITEST, "run", ...args], {
      cwd: ROOT,
      stdio: hold ? ["ignore", "pipe", "pipe"] : "inherit",
    });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("close", (code, signal) => {
      resolve(
        code === 0 ? { output } : { output, failure: `${label}: vitest exited with ${code ?? signal}` },
      );
    });
  });
}

/**
 * Start the floor suites, every line at once (they wait mostly on the CLI's child processes and
 * the sandbox, not on the CPU); each resolves with its output under a heading. A line with no
 * binary resolves at once: a skip line, or a failure under CI.
 */
export function startFloorSuites(): Promise<Finished>[] {
  return floorNodes().map(async (floor) => {
    if (floor.path === undefined) {
      const missing = `no Node ${floor.major} binary for ${process.platform}-${process.arch} ` +
        `(npm ci installs ${floor.name} on Linux x64 only)`;
      const heading = `\nfloor suites on Node ${floor.major}: `;
      return runningInCI(process.env)
        ? { output: `${heading}${missing}\n`, failure: `Node ${floor.major}: ${missing}` }
        : { output: `${heading}skipped, ${missing}; CI runs them.\n` };
    }
    const label = `Node ${floor.pinned} (node_modules/${floor.name})`;
    const run = await runVitest(floor.path, ["--config", "vitest.floor.config.ts"], label, true);
    return { ...run, output: `\nfloor suites on ${label}\n${run.output}` };
  });
}

/** Print what `runs` printed, in order, and exit 1 naming every failure. */
export async function report(runs: Promise<Finished>[]): Promise<void> {
  const failures: string[] = [];
  for (const run of await Promise.all(runs)) {
    process.stdout.write(run.output);
    if (run.failure !== undefined) failures.push(run.failure);
  }
  if (failures.length > 0) {
    console.error(`\nfailed:\n  ${failures.join("\n  ")}`);
    process.exit(1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await report(startFloorSuites());
