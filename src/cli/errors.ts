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

/** Ctrl-C (SIGINT) or SIGTERM: the run stops, after saving resume state. */
export class InterruptedError extends Error {
  override name = "InterruptedError";
  constructor() {
    super("interrupted");
  }
}

/** A `--state` file that cannot be read as this CLI's state (foreign, corrupt, or too new). */
export class StateError extends Error {
  override name = "StateError";
}
