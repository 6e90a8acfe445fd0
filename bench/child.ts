import { SANDBOX_API_KEY } from "../src/sandbox/mod.ts";
import { build } from "esbuild";
import { spawn, type SpawnOptions } from "node:child_process";

/**
 * Bundle `entry` into one ESM file for Node, as a user runs built code: no TypeScript loader in
 * the process whose memory a benchmark measures.
 */
export async function bundleForNode(entry: string, outfile: string): Promise<string> {
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "warning",
  });
  return outfile;
}

/** What a child run under GNU time left: its output, peak RSS and wall time. */
export interface TimedRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly peakMb: number;
  readonly seconds: number;
}

/**
 * Run `command` under GNU time (`/usr/bin/time`), asynchronously, so a sandbox served by this
 * process keeps answering the child. Rejects when time's figures are missing.
 */
export function timedChild(
  command: string,
  args: readonly string[],
  options: SpawnOptions,
): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-f", "TIME %M %e", command, ...args], options);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", () => {
      const time = /TIME (\d+) ([\d.]+)/.exec(stderr);
      if (time === null) reject(new Error(`${command} failed:\n${stderr.slice(-2000)}`));
      else resolve({ stdout, stderr, peakMb: Number(time[1]) / 1024, seconds: Number(time[2]) });
    });
  });
}

/**
 * The bundled CLI (`bundle`) as the bin launches it (`node`), sending `args`
 * (after `users`) to the sandbox at `baseUrl` with its API key: its `--json` summary, peak RSS
 * and wall time. Throws with the CLI's stderr when it printed no summary.
 */
export async function cliToSandbox(
  bundle: string,
  args: readonly string[],
  baseUrl: string,
  cwd: string,
): Promise<{ summary: Record<string, unknown>; peakMb: number; seconds: number }> {
  const child = await timedChild("node", [
    bundle,
    "users",
    ...args,
    "--json",
    "--base-url",
    baseUrl,
    "--poll-interval",
    "1",
  ], { cwd, env: { ...process.env, USERPILOT_API_KEY: SANDBOX_API_KEY } });
  const line = child.stdout.trim().split("\n").findLast((l) => l.includes('"type":"summary"'));
  if (line === undefined) throw new Error(`the CLI failed:\n${child.stderr.slice(-2000)}`);
  return { summary: JSON.parse(line), peakMb: child.peakMb, seconds: child.seconds };
}
