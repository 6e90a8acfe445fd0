import { closeSync, readSync, rmSync } from "node:fs";
import { createBeside, writeAll } from "./atomic-write.ts";
import { StateError } from "./errors.ts";

/** Words an entry: id hi, id lo, row hi, row lo. */
const WORDS = 4;
/** Entries the log buffers before writing (1 MB). */
export const LOG_BUFFER_ENTRIES = 65_536;

/**
 * What a `--state` run sent, in order: a file beside the state (`<state>.<random>.log`, created
 * exclusively, owner-only), not memory,
 * so a million rows cost the budget nothing until every job completed and it is merged in.
 *
 * @example
 * ```ts
 * const log = new StateLog("users.state");
 * log.add(idHi, idLo, rowHi, rowLo);
 * const entries = log.read();
 * log.remove();
 * ```
 */
export class StateLog {
  readonly #statePath: string;
  #path: string | undefined;
  #fd: number | undefined;
  #buffer = new Uint32Array(LOG_BUFFER_ENTRIES * WORDS);
  #written = 0;
  #buffered = 0;

  constructor(statePath: string) {
    this.#statePath = statePath;
  }

  /** Log one entry. */
  add(idHi: number, idLo: number, rowHi: number, rowLo: number): void {
    const at = this.#buffered * WORDS;
    const buffer = this.#buffer;
    buffer[at] = idHi;
    buffer[at + 1] = idLo;
    buffer[at + 2] = rowHi;
    buffer[at + 3] = rowLo;
    if (++this.#buffered === LOG_BUFFER_ENTRIES) this.#flush();
  }

  /** Every entry logged, in order (once: the buffer is let go). */
  read(): Uint32Array {
    if (this.#fd === undefined) return this.#buffer.slice(0, this.#buffered * WORDS);
    this.#flush();
    const log = new Uint32Array(this.#written * WORDS);
    const bytes = new Uint8Array(log.buffer);
    for (let at = 0; at < bytes.length;) {
      const read = readSync(this.#fd, bytes, at, bytes.length - at, at);
      if (read === 0) throw new StateError(`the log of this run (${this.#path}) ended early`);
      at += read;
    }
    this.#buffer = new Uint32Array(0);
    return log;
  }

  /** Remove the log file, if one was written. */
  remove(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    if (this.#path !== undefined) rmSync(this.#path, { force: true });
  }

  #flush(): void {
    if (this.#fd === undefined) {
      ({ path: this.#path, fd: this.#fd } = createBeside(this.#statePath, ".log", "wx+"));
    }
    writeAll(this.#fd, new Uint8Array(this.#buffer.buffer, 0, this.#buffered * WORDS * 4));
    this.#written += this.#buffered;
    this.#buffered = 0;
  }
}
