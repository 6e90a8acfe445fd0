import type { BulkKind } from "../../core/build-requests.ts";
import { decodePrints, encodePrints, foldPrints, type Prints, profileKey } from "./delta.ts";
import type { Sql } from "../sql.ts";

/**
 * What Userpilot has, per profile, as fingerprints (`delta.ts`): written only when a job
 * completes, read when a job is planned. One SQLite row a profile, keyed by a 53-bit hash of its
 * kind and id (no id stored), with when it was last seen, so profiles not seen for
 * `FORGET_AFTER_DAYS` are forgotten.
 */
export class FingerprintStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** A profile's fingerprints, or `undefined` if none was recorded (or it was forgotten). */
  get(kind: BulkKind, id: string): Prints | undefined {
    const row = this.#sql.exec<{ prints: ArrayBuffer }>(
      "SELECT prints FROM fingerprints WHERE key = ?",
      profileKey(kind, id),
    ).toArray()[0];
    return row === undefined ? undefined : decodePrints(row.prints);
  }

  /** Fold what a completed job delivered into the profile's fingerprints. */
  record(kind: BulkKind, id: string, carried: ArrayBuffer, now: number): void {
    this.put(kind, id, foldPrints(this.get(kind, id) ?? new Map(), decodePrints(carried), now), now);
  }

  /** Store a profile's fingerprints, seen `now` (an update of it was planned or delivered). */
  put(kind: BulkKind, id: string, prints: Prints, now: number): void {
    this.#sql.exec(
      "REPLACE INTO fingerprints VALUES (?, ?, ?)",
      profileKey(kind, id),
      encodePrints(prints),
      now,
    );
  }

  /** Forget these profiles (their next values are sent whole). Returns how many had fingerprints. */
  forget(kind: BulkKind, ids: readonly string[]): number {
    let forgotten = 0;
    for (const id of ids) {
      forgotten +=
        this.#sql.exec("DELETE FROM fingerprints WHERE key = ? RETURNING key", profileKey(kind, id))
          .toArray().length;
    }
    return forgotten;
  }

  /**
   * Forget up to `limit` profiles not seen since `before` (bounded work per alarm; all of them, a
   * batch at a time, with `before` past every time). Returns how many.
   */
  forgetUnseen(before: number, limit: number): number {
    return this.#sql.exec(
      "DELETE FROM fingerprints WHERE key IN (SELECT key FROM fingerprints WHERE seen_at < ? LIMIT ?) RETURNING key",
      before,
      limit,
    ).toArray().length;
  }
}
