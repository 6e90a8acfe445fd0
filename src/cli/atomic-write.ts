import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";

/** Files the CLI writes (state, resume, report, the state's log) are their owner's only. */
export const OWNER_ONLY = 0o600;

/**
 * A new file beside `path` that no one else can have prepared: a random name, created exclusively
 * (`wx`: never an existing file, never through a link planted at that name), owner-only.
 */
export function createBeside(path: string, suffix: string, flags: "wx" | "wx+" = "wx"): {
  path: string;
  fd: number;
} {
  const beside = `${path}.${crypto.randomUUID()}${suffix}`;
  return { path: beside, fd: openSync(beside, flags, OWNER_ONLY) };
}

/**
 * Write `data` (or what `data` writes to the file descriptor it is given) to `path` so that a reader sees the old file or the new one, never half of one:
 * a temporary file beside it ({@link createBeside}), flushed to disk, then renamed over it (which
 * replaces a link at `path`, never writes through it). The file is owner-only.
 *
 * @example
 * ```ts
 * writeAtomically("run.resume.json", JSON.stringify(state));
 * ```
 */
export function writeAtomically(path: string, data: string | Uint8Array | ((fd: number) => void)): void {
  const { path: temporary, fd } = createBeside(path, ".tmp");
  try {
    if (typeof data === "string") writeSync(fd, data);
    else if (typeof data === "function") data(fd);
    else writeAll(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temporary, path);
  } catch (error) {
    unlinkSync(temporary);
    throw error;
  }
}

/** Write all of `bytes` to `fd`, at `position` or where the file is. */
export function writeAll(fd: number, bytes: Uint8Array, position?: number): void {
  for (let at = 0; at < bytes.length;) {
    at += writeSync(fd, bytes, at, bytes.length - at, position === undefined ? null : position + at);
  }
}
