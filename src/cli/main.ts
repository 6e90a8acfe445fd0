#!/usr/bin/env node
/**
 * `userpilot-bulk users|companies <file|->`: push a warehouse export into Userpilot, one bulk job
 * at a time, and report every row that could not be sent. Runs on Node, Deno and Bun.
 *
 * @example
 * ```sh
 * USERPILOT_API_KEY=… userpilot-bulk users export.csv --types seats=number --report rejected.ndjson
 * ```
 * @module
 */
import process from "node:process";
import { InterruptedError, SIGNAL_EXIT_CODES } from "./errors.ts";
import { applyMemorySettings } from "./memory.ts";
import { runCli } from "./run.ts";

applyMemorySettings();

const controller = new AbortController();
let interrupts = 0;
function interrupt(signal: keyof typeof SIGNAL_EXIT_CODES): void {
  interrupts++;
  // A second Ctrl-C: stop at once. The resume file is only ever replaced whole (written, then
  // renamed), so it still holds the last state saved.
  if (interrupts > 1) process.exit(SIGNAL_EXIT_CODES[signal]);
  process.stderr.write("\nstopping (press Ctrl-C again to quit at once)\n");
  controller.abort(new InterruptedError(signal));
}
const onSigint = (): void => interrupt("SIGINT");
const onSigterm = (): void => interrupt("SIGTERM");
process.on("SIGINT", onSigint);
process.on("SIGTERM", onSigterm);

const exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdin: () => process.stdin,
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  stderrIsTTY: process.stderr.isTTY === true,
  signal: controller.signal,
});
process.off("SIGINT", onSigint);
process.off("SIGTERM", onSigterm);
process.exitCode = exitCode;
