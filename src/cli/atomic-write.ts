import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import process from "node:process";

/**
 * Write `data` (or what `data` writes to the file descriptor it is given) to `path` so that a reader sees the old file or the new one, never half of one:
 * a temporary file beside it, flushed to disk, then renamed over it.
 *
 * @example
 * ```ts
 * writeAtomically("run.resume.json", JSON.stringify(state));
 * ```
 */
export function writeAtomically(path: string, data: string | Uint8Array | ((fd: number) => void)): void {
  const temporary = `${path}.${process.pid}.tmp`;
  const fd = openSync(temporary, "w");
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
