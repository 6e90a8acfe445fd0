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

/**
 * One floor run, its output held and printed whole when it ends. The runs wait mostly on the
 * CLI's child processes and the sandbox, not on the CPU, so the lines run at the same time.
 */
function runFloor(node: string, label: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(node, [VITEST, "run", "--config", "vitest.floor.config.ts"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("close", (code, signal) => {
      process.stdout.write(`\nfloor suites on ${label}\n${output}`);
      resolve(code === 0 ? undefined : `${label}: vitest exited with ${code ?? signal}`);
    });
  });
}

const failed: string[] = [];
const runs: Promise<string | undefined>[] = [];
for (const floor of floorNodes()) {
  if (floor.path !== undefined) {
    runs.push(runFloor(floor.path, `Node ${floor.pinned} (node_modules/${floor.name})`));
    continue;
  }
  const missing = `no Node ${floor.major} binary for ${process.platform}-${process.arch} ` +
    `(npm ci installs ${floor.name} on Linux x64 only)`;
  if (runningInCI(process.env)) failed.push(`Node ${floor.major}: ${missing}`);
  else console.log(`\nfloor suites on Node ${floor.major}: skipped, ${missing}; CI runs them.`);
}
for (const failure of await Promise.all(runs)) if (failure !== undefined) failed.push(failure);
if (failed.length > 0) {
  console.error(`\nfloor suites failed:\n  ${failed.join("\n  ")}`);
  process.exit(1);
}
