/**
 * The ids of the latest rows handed to the core, by their index in its stream: enough to name a
 * rejected row by its id, and to turn the core's checkpoint (a row count) into a place in the id
 * order where a stopped sync can go on.
 * @module
 */
import type { PostgresPosition } from "./source.ts";

/**
 * Rows remembered: the core reports a rejected row with its window, and settles a window a job
 * or two after reading it (a few windows on when a failed job's rows are bisected). 64 Ki
 * references to id strings the rows hold anyway: about 0.5 MB.
 */
const DEFAULT_CAPACITY = 65_536;

/**
 * A ring of the last rows' ids by stream index.
 *
 * @example
 * ```ts
 * const trail = new KeyTrail();
 * trail.note(0, "user_1");
 * trail.positionAt(1); // { after: "user_1", inclusive: true }: row 1 may share the id
 * ```
 */
export class KeyTrail {
  readonly #keys: (string | undefined)[];
  readonly #indexes: Float64Array;
  /** Rows noted so far. */
  #count = 0;

  constructor(capacity: number = DEFAULT_CAPACITY) {
    this.#keys = new Array<string | undefined>(capacity);
    this.#indexes = new Float64Array(capacity).fill(-1);
  }

  /** Row `index` of the stream (noted in order) has this id. */
  note(index: number, key: string): void {
    const slot = index % this.#keys.length;
    this.#keys[slot] = key;
    this.#indexes[slot] = index;
    this.#count = index + 1;
  }

  /** The id of row `index`, if it is still remembered. */
  key(index: number): string | undefined {
    const slot = index % this.#keys.length;
    return this.#indexes[slot] === index ? this.#keys[slot] : undefined;
  }

  /**
   * Where a sync goes on once every row before `checkpoint` is settled: after the id of the row
   * before it, or from that id when the row at the checkpoint has the same id or has not been
   * read (its id's rows may straddle the checkpoint), unless the stream `ended` there. `undefined`
   * when nothing is settled yet or that row is no longer remembered (the caller keeps the
   * position it had).
   */
  positionAt(checkpoint: number, ended = false): PostgresPosition | undefined {
    if (checkpoint <= 0) return undefined;
    const last = this.key(checkpoint - 1);
    if (last === undefined) return undefined;
    if (ended && checkpoint >= this.#count) return { after: last };
    const next = checkpoint < this.#count ? this.key(checkpoint) : undefined;
    return next !== undefined && next !== last ? { after: last } : { after: last, inclusive: true };
  }
}
