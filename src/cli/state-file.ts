import { closeSync, openSync, readFileSync, readSync, rmSync } from "node:fs";
import process from "node:process";
import { type Fingerprint, hash64 } from "../core/fingerprint.ts";
import { writeAll, writeAtomically } from "./atomic-write.ts";
import { StateError } from "./errors.ts";
import { sortEntries } from "./state-sort.ts";

/**
 * The `--state` file: for each id, the 64-bit fingerprint of the row the last completed run
 * delivered, as entries of four 32-bit words (`id hi, id lo, row hi, row lo`; ids as 64-bit
 * fingerprints, never the ids) sorted by id, after a 32-byte header: `UPBSTATE`, the format
 * version, the count, the fingerprint of the options that shape rows (kind, `--types`,
 * `--empty-as-null`) and a checksum of the entries. Words are in the machine's byte order
 * (little-endian wherever Node, Deno and Bun run).
 *
 * Memory is what the budget allows: the loaded file is the lookup table itself (binary search,
 * 16 bytes an id: 16 MB for a million), and what a run sees goes to a log file beside the state,
 * not to memory; only when every job of the run has completed are the two merged into the new
 * file. A sorted array rather than a hash table: no empty slots to pay for, and nothing to build
 * when loading.
 */
const MAGIC = "UPBSTATE";
const FORMAT_VERSION = 1;
const HEADER_BYTES = 32;
const WORDS = 4;
/** Entries the log buffers before writing (1 MB). */
const LOG_BUFFER_ENTRIES = 65_536;

/** Why a run sends every row whatever the state says, if it does. */
export type FullReason = "no state yet" | "--full" | "the options that shape rows changed";

/** A checksum of entry words, continued from `sum` (two multiplicative mixes). */
function checksum(words: Uint32Array, sum: [number, number] = [0x811c9dc5, 0x5bd1e995]): [number, number] {
  let [a, b] = sum;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    a = Math.imul(a ^ word, 0x01000193) >>> 0;
    b = (Math.imul(b ^ word, 0x5bd1e995) ^ (b >>> 15)) >>> 0;
  }
  return [a, b];
}

/** Unsigned order of two 64-bit ids as `hi, lo` halves. */
const compare = (aHi: number, aLo: number, bHi: number, bLo: number): number =>
  aHi !== bHi ? (aHi < bHi ? -1 : 1) : aLo !== bLo ? (aLo < bLo ? -1 : 1) : 0;

/** What the last completed run delivered, and what this run has seen (see the file's comment). */
export class DeliveredState {
  readonly #path: string;
  readonly #options: Fingerprint;
  /** The loaded entries, sorted by id. */
  readonly #entries: Uint32Array;
  /** Set when every row goes this run (nothing loaded, or the loaded state does not apply). */
  readonly fullReason: FullReason | undefined;
  readonly #logPath: string;
  #logFd: number | undefined;
  #logBuffer = new Uint32Array(LOG_BUFFER_ENTRIES * WORDS);
  #logged = 0;
  #buffered = 0;
  /** Loaded ids sent again this run (changed): a later row of theirs must go too. */
  readonly #resent = new Set<string>();
  /** Ids whose row was not delivered (rejected or set aside). */
  readonly #undelivered = new Set<string>();
  #untraceable = false;

  private constructor(
    path: string,
    options: Fingerprint,
    entries: Uint32Array,
    fullReason: FullReason | undefined,
  ) {
    this.#path = path;
    this.#options = options;
    this.#entries = entries;
    this.fullReason = fullReason;
    this.#logPath = `${path}.${process.pid}.log`;
  }

  /**
   * Load `path` for a run whose row-shaping options print as `optionsText`. A missing file is an
   * empty state; a file of other options, or `full`, applies to nothing (every row goes, and the
   * file is rewritten for these options). A file that is not a state file, or is damaged, throws
   * a {@link StateError} naming the problem.
   *
   * @example
   * ```ts
   * const state = DeliveredState.open("users.state", '["users",[],false]', false);
   * ```
   */
  static open(path: string, optionsText: string, full: boolean): DeliveredState {
    const options = hash64(optionsText);
    const none = (reason: FullReason) => new DeliveredState(path, options, new Uint32Array(0), reason);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return none("no state yet");
      throw new StateError(`--state ${path} cannot be read: ${(error as Error).message}`);
    }
    const magic = new TextDecoder().decode(bytes.subarray(0, MAGIC.length));
    if (bytes.length < HEADER_BYTES || magic !== MAGIC) {
      throw new StateError(
        `--state ${path} is not a userpilot-bulk state file (choose another path, or delete it to start afresh)`,
      );
    }
    const header = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
    const version = header.getUint32(8, true);
    if (version !== FORMAT_VERSION) {
      throw new StateError(
        `--state ${path} is in format ${version}; this version reads format ${FORMAT_VERSION}`,
      );
    }
    const count = header.getUint32(12, true);
    const expected = HEADER_BYTES + count * WORDS * 4;
    const afresh = "(delete it, or run with --full, to start afresh)";
    if (bytes.length !== expected) {
      throw new StateError(
        `--state ${path} is damaged: ${bytes.length} bytes where its header promises ${expected} ${afresh}`,
      );
    }
    // A Uint32Array needs 4-byte alignment: a small file may sit at any offset of Node's pool.
    const start = bytes.byteOffset + HEADER_BYTES;
    const entries = start % 4 === 0
      ? new Uint32Array(bytes.buffer, start, count * WORDS)
      : new Uint32Array(bytes.slice(HEADER_BYTES).buffer);
    const [sumHi, sumLo] = checksum(entries);
    if (header.getUint32(24, true) !== sumHi || header.getUint32(28, true) !== sumLo) {
      throw new StateError(`--state ${path} is damaged: its checksum does not match ${afresh}`);
    }
    if (full) return none("--full");
    if (header.getUint32(16, true) !== options[0] || header.getUint32(20, true) !== options[1]) {
      return none("the options that shape rows changed");
    }
    return new DeliveredState(path, options, entries, undefined);
  }

  /** Ids in the loaded state. */
  get size(): number {
    return this.#entries.length / WORDS;
  }

  /**
   * A row of this run, by the fingerprints of its id and of its content: whether it is unchanged
   * since the last completed run (leave it out) or goes (logged for the new state).
   */
  see(idHi: number, idLo: number, rowHi: number, rowLo: number): "unchanged" | "send" {
    const at = this.fullReason === undefined ? this.#find(idHi, idLo) : -1;
    if (at >= 0) {
      const key = `${idHi}:${idLo}`;
      const entries = this.#entries;
      if (entries[at + 2] === rowHi && entries[at + 3] === rowLo && !this.#resent.has(key)) {
        return "unchanged";
      }
      // Changed: any later row of this id in the run must go too, or it would land before this one.
      this.#resent.add(key);
    }
    // Only rows that go are logged: one left out equals the loaded entry, which stays.
    this.#log(idHi, idLo, rowHi, rowLo);
    return "send";
  }

  /** This id's row was not delivered: the new state will not vouch for it. */
  undelivered(idHi: number, idLo: number): void {
    this.#undelivered.add(`${idHi}:${idLo}`);
  }

  /** A row was not delivered and its id is no longer known: the new state cannot be trusted. */
  untraceable(): void {
    this.#untraceable = true;
  }

  /**
   * Every job of the run completed: write the new state atomically (a temporary file, then a
   * rename): the loaded entries, with what this run saw over them. An id seen more than once with
   * different rows, or whose row was not delivered, is left out (it goes whole next time).
   * Returns false, writing nothing, when a row not delivered could not be traced to its id.
   */
  save(): boolean {
    if (this.#untraceable) return false;
    const log = this.#readLog();
    const order = sortEntries(log);
    const old = this.#entries;
    writeAtomically(this.#path, (fd) => {
      writeAll(fd, new Uint8Array(HEADER_BYTES)); // written for real once the count and checksum are known
      const out = new Uint32Array(LOG_BUFFER_ENTRIES * WORDS);
      let sum: [number, number] | undefined;
      let written = 0;
      let filled = 0;
      const flush = () => {
        const chunk = out.subarray(0, filled * WORDS);
        sum = checksum(chunk, sum);
        writeAll(fd, new Uint8Array(chunk.buffer, 0, chunk.byteLength));
        written += filled;
        filled = 0;
      };
      const emit = (hi: number, lo: number, rowHi: number, rowLo: number) => {
        const at = filled * WORDS;
        out[at] = hi;
        out[at + 1] = lo;
        out[at + 2] = rowHi;
        out[at + 3] = rowLo;
        if (++filled === LOG_BUFFER_ENTRIES) flush();
      };
      let i = 0; // in the old entries
      let j = 0; // in the sorted log
      while (i < old.length || j < order.length) {
        const o = j < order.length ? order[j]! * WORDS : 0;
        const cmp = j >= order.length
          ? -1
          : i >= old.length
          ? 1
          : compare(old[i]!, old[i + 1]!, log[o]!, log[o + 1]!);
        if (cmp < 0) {
          emit(old[i]!, old[i + 1]!, old[i + 2]!, old[i + 3]!);
          i += WORDS;
          continue;
        }
        // Every row of this id in the run: the same content each time, or the id is left out.
        const hi = log[o]!;
        const lo = log[o + 1]!;
        const rowHi = log[o + 2]!;
        const rowLo = log[o + 3]!;
        let same = true;
        for (; j < order.length; j++) {
          const p = order[j]! * WORDS;
          if (log[p] !== hi || log[p + 1] !== lo) break;
          if (log[p + 2] !== rowHi || log[p + 3] !== rowLo) same = false;
        }
        if (cmp === 0) i += WORDS;
        if (same && !this.#undelivered.has(`${hi}:${lo}`)) emit(hi, lo, rowHi, rowLo);
      }
      flush();
      const header = new Uint8Array(HEADER_BYTES);
      header.set(new TextEncoder().encode(MAGIC), 0);
      const view = new DataView(header.buffer);
      view.setUint32(8, FORMAT_VERSION, true);
      view.setUint32(12, written, true);
      view.setUint32(16, this.#options[0], true);
      view.setUint32(20, this.#options[1], true);
      view.setUint32(24, sum![0], true);
      view.setUint32(28, sum![1], true);
      writeAll(fd, header, 0);
    });
    this.discard();
    return true;
  }

  /** Remove this run's log (the run ends without a new state, or the state was written). */
  discard(): void {
    if (this.#logFd !== undefined) closeSync(this.#logFd);
    this.#logFd = undefined;
    rmSync(this.#logPath, { force: true });
  }

  /** The index (first word) of a loaded id, or -1. */
  #find(idHi: number, idLo: number): number {
    const entries = this.#entries;
    let low = 0;
    let high = entries.length / WORDS - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const at = middle * WORDS;
      const cmp = compare(entries[at]!, entries[at + 1]!, idHi, idLo);
      if (cmp === 0) return at;
      if (cmp < 0) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }

  #log(idHi: number, idLo: number, rowHi: number, rowLo: number): void {
    const at = this.#buffered * WORDS;
    const buffer = this.#logBuffer;
    buffer[at] = idHi;
    buffer[at + 1] = idLo;
    buffer[at + 2] = rowHi;
    buffer[at + 3] = rowLo;
    if (++this.#buffered === LOG_BUFFER_ENTRIES) this.#flushLog();
  }

  #flushLog(): void {
    this.#logFd ??= openSync(this.#logPath, "w+");
    writeAll(this.#logFd, new Uint8Array(this.#logBuffer.buffer, 0, this.#buffered * WORDS * 4));
    this.#logged += this.#buffered;
    this.#buffered = 0;
  }

  /** Everything this run logged, in order. */
  #readLog(): Uint32Array {
    if (this.#logFd === undefined) return this.#logBuffer.slice(0, this.#buffered * WORDS);
    this.#flushLog();
    const log = new Uint32Array(this.#logged * WORDS);
    const bytes = new Uint8Array(log.buffer);
    for (let at = 0; at < bytes.length;) {
      const read = readSync(this.#logFd, bytes, at, bytes.length - at, at);
      if (read === 0) throw new StateError(`the log of this run (${this.#logPath}) ended early`);
      at += read;
    }
    this.#logBuffer = new Uint32Array(0);
    return log;
  }
}
