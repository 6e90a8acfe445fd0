/**
 * The CLI's own failures. Each maps to exit code 2 and a one-line message; none carries a row
 * value or the API key.
 */

/** The command line is wrong: an unknown flag, a missing file argument, a bad value. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The input cannot be read as the format it claims to be (not a row problem: the whole file). */
export class InputError extends Error {
  override name = "InputError";
}

/** A `--resume` state file that cannot be used for this run. */
export class ResumeError extends Error {
  override name = "ResumeError";
}

/** The signals that stop a run, and the exit code of each (128 + its number, the shells' convention). */
export const SIGNAL_EXIT_CODES: Readonly<Record<"SIGINT" | "SIGTERM", number>> = Object.freeze({
  SIGINT: 130,
  SIGTERM: 143,
});

/** Ctrl-C (SIGINT) or SIGTERM: the run stops, after saving resume state. */
export class InterruptedError extends Error {
  override name = "InterruptedError";
  /** 130 for Ctrl-C, 143 for SIGTERM. */
  readonly exitCode: number;
  constructor(signal: keyof typeof SIGNAL_EXIT_CODES = "SIGINT") {
    super("interrupted");
    this.exitCode = SIGNAL_EXIT_CODES[signal];
  }
}

/** A `--state` file that cannot be read as this CLI's state (foreign, corrupt, or too new). */
export class StateError extends Error {
  override name = "StateError";
}
