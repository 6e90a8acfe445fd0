import { readFileSync } from "node:fs";
import { DEFAULT_RESEND_AFTER_HOURS, type Fingerprint, hash64 } from "../core/fingerprint.ts";
import { writeAll, writeAtomically } from "./atomic-write.ts";
import { StateError } from "./errors.ts";
import { checksum, HEADER_BYTES, headerBytes, readHeader } from "./state-header.ts";
import { LOG_BUFFER_ENTRIES, StateLog } from "./state-log.ts";
import { sortEntries } from "./state-sort.ts";

/**
 * The `--state` file: for each id, the 64-bit fingerprint of the row the last completed run
 * delivered, as entries of four 32-bit words (`id hi, id lo, row hi, row lo`; ids as 64-bit
 * fingerprints, never the ids) sorted by id, after a 48-byte header (see `state-header.ts`):
 * the format version, the count, what the rows were shaped by, where they went, when the last
 * full send began and a checksum of the entries. Words are in the machine's byte order
 * (little-endian wherever Node, Deno and Bun run).
 *
 * Memory is what the budget allows: the loaded file is the lookup table itself (binary search,
 * 16 bytes an id: 16 MB for a million), and what a run sees goes to a log file beside the state,
 * not to memory; only when every job of the run completed are the two merged into the new
 * file. A sorted array rather than a hash table: no empty slots to pay for, and nothing to build
 * when loading.
 */
const WORDS = 4;
const HOUR_MS = 3_600_000;
/** A last full send dated later than this after the run's clock is not believed (a clock moved). */
const CLOCK_SLACK_MS = 60_000;

/** Why a run sends every row whatever the state says, if it does. */
export type FullReason =
  | "no state yet"
  | "--full"
  | "the options that shape rows changed"
  | "the destination changed: another base URL or API key"
  | `the file is in an older format (${number})`
  | `the last full send was ${string}`;

/** What a run checks a state file against. */
export interface StateContext {
  /** The options that shape rows (kind, `--types`, `--empty-as-null`), as text. */
  readonly shaping: string;
  /** Where rows go (`destinationPrint` of `state-header.ts`); `undefined`: not checked (a dry run without a key). */
  readonly destination?: Fingerprint | undefined;
  /** `--full`: every row goes. */
  readonly full?: boolean | undefined;
  /** A state whose last full send began longer ago sends every row (default 168 hours). */
  readonly resendAfterMs?: number | undefined;
  /** The run's clock, ms since the epoch (default now; a resumed run: when it first began). */
  readonly now?: number | undefined;
}

/** Unsigned order of two 64-bit ids as `hi, lo` halves. */
const compare = (aHi: number, aLo: number, bHi: number, bLo: number): number =>
  aHi !== bHi ? (aHi < bHi ? -1 : 1) : aLo !== bLo ? (aLo < bLo ? -1 : 1) : 0;

/** An age in words: hours under two days, else days. */
const age = (ms: number): string =>
  ms < 48 * HOUR_MS
    ? `${(ms / HOUR_MS).toFixed(1)} hours ago`
    : `${(ms / (24 * HOUR_MS)).toFixed(1)} days ago`;

/** What the last completed run delivered, and what this run has seen (see the file's comment). */
export class DeliveredState {
  readonly #path: string;
  readonly #options: Fingerprint;
  readonly #destination: Fingerprint;
  /** When the last full send began: what the new file says (this run's clock if it sends every row). */
  readonly #lastFullMs: number;
  /** The loaded entries, sorted by id. */
  readonly #entries: Uint32Array;
  /** Loaded entries (by entry number) that must not be kept: their id changed in rows not recorded. */
  #dropped: Uint8Array | undefined;
  /** Set when every row goes this run (nothing loaded, or the loaded state does not apply). */
  readonly fullReason: FullReason | undefined;
  readonly #log: StateLog;
  /** Loaded ids sent again this run (changed): a later row of theirs must go too. */
  readonly #resent = new Set<string>();
  /** Ids whose row was not delivered (rejected or set aside). */
  readonly #undelivered = new Set<string>();
  #untraceable = false;

  private constructor(
    path: string,
    header: { options: Fingerprint; destination: Fingerprint; lastFullMs: number },
    entries: Uint32Array,
    fullReason: FullReason | undefined,
  ) {
    this.#path = path;
    this.#options = header.options;
    this.#destination = header.destination;
    this.#lastFullMs = header.lastFullMs;
    this.#entries = entries;
    this.fullReason = fullReason;
    this.#log = new StateLog(path);
  }

  /**
   * Load `path` for a run. A missing file is an empty state. Every row goes (and the file is
   * rewritten for this run) with `full`, or when the file was made for other options that shape
   * rows, for another destination, in an older format, or when its last full send began longer
   * ago than `resendAfterMs` (Userpilot may have been changed elsewhere since). A file that is
   * not a state file, is damaged or of a newer format throws a {@link StateError} naming the
   * problem (with `full`, a damaged one is simply replaced).
   *
   * @example
   * ```ts
   * const state = DeliveredState.open("users.state", { shaping: '["users",[],false]', destination });
   * ```
   */
  static open(path: string, context: StateContext): DeliveredState {
    const now = context.now ?? Date.now();
    const options = hash64(context.shaping);
    const destination = context.destination ?? [0, 0];
    const none = (reason: FullReason) =>
      new DeliveredState(path, { options, destination, lastFullMs: now }, new Uint32Array(0), reason);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return none("no state yet");
      throw new StateError(`--state ${path} cannot be read: ${(error as Error).message}`);
    }
    const header = readHeader(path, bytes);
    if (context.full) return none("--full");
    if ("olderFormat" in header) return none(`the file is in an older format (${header.olderFormat})`);
    const expected = HEADER_BYTES + header.count * WORDS * 4;
    const afresh = "(delete it, or run with --full, to start afresh)";
    if (bytes.length !== expected) {
      throw new StateError(
        `--state ${path} is damaged: ${bytes.length} bytes where its header promises ${expected} ${afresh}`,
      );
    }
    // A Uint32Array needs 4-byte alignment: a small file may sit at any offset of Node's pool.
    const start = bytes.byteOffset + HEADER_BYTES;
    const entries = start % 4 === 0
      ? new Uint32Array(bytes.buffer, start, header.count * WORDS)
      : new Uint32Array(bytes.slice(HEADER_BYTES).buffer);
    const [sumHi, sumLo] = checksum(entries);
    if (header.checksum[0] !== sumHi || header.checksum[1] !== sumLo) {
      throw new StateError(`--state ${path} is damaged: its checksum does not match ${afresh}`);
    }
    if (header.options[0] !== options[0] || header.options[1] !== options[1]) {
      return none("the options that shape rows changed");
    }
    if (
      context.destination !== undefined &&
      (header.destination[0] !== destination[0] || header.destination[1] !== destination[1])
    ) {
      return none("the destination changed: another base URL or API key");
    }
    const since = now - header.lastFullMs;
    const resendAfterMs = context.resendAfterMs ?? DEFAULT_RESEND_AFTER_HOURS * HOUR_MS;
    if (!(since <= resendAfterMs && since >= -CLOCK_SLACK_MS)) {
      return none(
        since < 0
          ? "the last full send was dated in the future (a clock changed?)"
          : `the last full send was ${age(since)}, over --resend-after-hours ${resendAfterMs / HOUR_MS}`,
      );
    }
    return new DeliveredState(path, header, entries, undefined);
  }

  /** Ids in the loaded state. */
  get size(): number {
    return this.#entries.length / WORDS;
  }

  /**
   * A row of this run, by the fingerprints of its id and of its content: whether it is unchanged
   * since the last completed run (leave it out) or goes (logged for the new state). `record`
   * false: the row is not this run's to record (`--resume`: an earlier run settled it, and
   * whether Userpilot took it is not known here), so it is not logged, and a loaded entry it
   * differs from is dropped too: its id goes whole next time, unless a later row records it.
   */
  see(idHi: number, idLo: number, rowHi: number, rowLo: number, record = true): "unchanged" | "send" {
    const at = this.fullReason === undefined ? this.#find(idHi, idLo) : -1;
    if (at >= 0) {
      const key = `${idHi}:${idLo}`;
      const entries = this.#entries;
      if (entries[at + 2] === rowHi && entries[at + 3] === rowLo && !this.#resent.has(key)) {
        return "unchanged";
      }
      // Changed: any later row of this id in the run must go too, or it would land before this one.
      this.#resent.add(key);
      if (!record) (this.#dropped ??= new Uint8Array(this.size))[at / WORDS] = 1;
    }
    // Only rows that go are logged: one left out equals the loaded entry, which stays.
    if (record) this.#log.add(idHi, idLo, rowHi, rowLo);
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
    const log = this.#log.read();
    const order = sortEntries(log);
    const old = this.#entries;
    const dropped = this.#dropped;
    writeAtomically(this.#path, (fd) => {
      writeAll(fd, new Uint8Array(HEADER_BYTES)); // written for real once the count and checksum are known
      const out = new Uint32Array(LOG_BUFFER_ENTRIES * WORDS);
      let sum: Fingerprint | undefined;
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
          if (dropped?.[i / WORDS] !== 1) emit(old[i]!, old[i + 1]!, old[i + 2]!, old[i + 3]!);
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
      const header = headerBytes({
        count: written,
        options: this.#options,
        checksum: sum!,
        destination: this.#destination,
        lastFullMs: this.#lastFullMs,
      });
      writeAll(fd, header, 0);
    });
    this.discard();
    return true;
  }

  /** Remove this run's log (the run ends without a new state, or the state was written). */
  discard(): void {
    this.#log.remove();
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
}
