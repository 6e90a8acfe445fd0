import type { BulkKind } from "../../mod.ts";
import { canonicalValue, hash64 } from "../core/fingerprint.ts";
import type { DeliveredState } from "./state-file.ts";

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * The canonical text of a row as read from the input: its company and its metadata with keys
 * sorted, so the same profile written in another key order fingerprints the same. `undefined`
 * for a row without a usable id (the core rejects it; it is never left out).
 */
function canonicalRow(kind: BulkKind, row: unknown): { id: string; text: string } | undefined {
  if (!isObject(row)) return undefined;
  const id = row[kind === "users" ? "user_id" : "company_id"];
  if (typeof id !== "string" || id === "") return undefined;
  let text = kind === "users" && row["company_id"] !== undefined
    ? `c${canonicalValue(row["company_id"] as string)}`
    : "";
  const metadata = row["metadata"];
  if (isObject(metadata)) {
    for (const key of Object.keys(metadata).sort()) {
      text += `\u0000${JSON.stringify(key)}:${JSON.stringify(metadata[key])}`;
    }
  } else if (metadata !== undefined) {
    text += `\u0001${JSON.stringify(metadata)}`;
  }
  return { id, text };
}

/**
 * Rows whose issues may still come back from the core, by their index in the stream: the core
 * reports a row it rejects with its window, and one it sets aside while its job's rows are
 * bisected, a few windows on at most. 1 MB.
 */
const TRACKED_ROWS = 131_072;

/**
 * `--state`: leaves out rows delivered with exactly these values by the last completed run, and
 * remembers the id of each row that goes by the index the core will know it by, so a row the
 * core rejects or sets aside is not recorded as delivered.
 */
export class UnchangedFilter {
  readonly #state: DeliveredState;
  readonly #kind: BulkKind;
  /** The id fingerprints of the latest rows that went, by stream index modulo the ring's size. */
  readonly #ids = new Uint32Array(TRACKED_ROWS * 2);
  readonly #indexes = new Float64Array(TRACKED_ROWS).fill(-1);
  /**
   * Rows of the stream before this index were settled by an earlier run (`--resume`): they are
   * compared as ever (so the stream's indexes stay those of that run) but never recorded.
   */
  settledBefore = 0;
  /** Rows left out as unchanged. */
  rows = 0;
  /** Their properties (metadata keys and a company). */
  properties = 0;

  constructor(state: DeliveredState, kind: BulkKind) {
    this.#state = state;
    this.#kind = kind;
  }

  /** Whether `row` goes, as row `index` of the stream. */
  keep(row: unknown, index: number): boolean {
    const canonical = canonicalRow(this.#kind, row);
    const slot = index % TRACKED_ROWS;
    if (canonical === undefined) {
      // No id: the core rejects it, and there is nothing to record.
      this.#indexes[slot] = index;
      this.#ids.fill(0, 2 * slot, 2 * slot + 2);
      return true;
    }
    const [idHi, idLo] = hash64(canonical.id);
    // The id is part of the row's print too: two ids whose 64-bit prints collide cannot vouch for each other.
    const [rowHi, rowLo] = hash64(`${JSON.stringify(canonical.id)}${canonical.text}`);
    if (this.#state.see(idHi, idLo, rowHi, rowLo, index >= this.settledBefore) === "unchanged") {
      this.rows++;
      const { metadata, company_id } = row as { metadata?: object; company_id?: unknown };
      this.properties += (metadata === undefined ? 0 : Object.keys(metadata).length) +
        (this.#kind === "users" && company_id !== undefined ? 1 : 0);
      return false;
    }
    this.#indexes[slot] = index;
    this.#ids[2 * slot] = idHi;
    this.#ids[2 * slot + 1] = idLo;
    return true;
  }

  /** Row `index` was not delivered (rejected, or set aside): it goes again next run. */
  undelivered(index: number): void {
    const slot = index % TRACKED_ROWS;
    const idHi = this.#ids[2 * slot]!;
    const idLo = this.#ids[2 * slot + 1]!;
    if (this.#indexes[slot] !== index) this.#state.untraceable();
    else if ((idHi | idLo) !== 0) this.#state.undelivered(idHi, idLo);
  }
}
