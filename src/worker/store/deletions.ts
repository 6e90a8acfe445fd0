import type { BulkKind } from "../../core/build-requests.ts";
import type { Sql } from "../sql.ts";

/** A batch of deletions of one kind to forward to Userpilot in one request. */
export interface DeletionBatch {
  readonly kind: BulkKind;
  readonly seqs: number[];
  /** The ids, each once. */
  readonly ids: string[];
}

/**
 * Deletions accepted by the gateway (`DELETE /v1/users`, `/v1/companies`). Each is a tombstone
 * with the time it was accepted: values and events accepted before it are dropped, and rows and
 * events of the id accepted after it are held until Userpilot has the delete. Forwarded
 * tombstones are kept a day, so a late, older Queue message cannot bring a deleted value back.
 */
export class DeletionStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Record a deletion; false when it is a repeat (a redelivered Queue message). */
  add(kind: BulkKind, id: string, deletedAt: number): boolean {
    return this.#sql.exec(
      "INSERT OR IGNORE INTO deletions (kind, id, deleted_at) VALUES (?, ?, ?)",
      kind,
      id,
      deletedAt,
    ).rowsWritten > 0;
  }

  /** Whether any tombstone is kept at all (so merges skip the per-row lookup when none is). */
  any(): boolean {
    return this.#sql.exec("SELECT 1 FROM deletions LIMIT 1").toArray().length > 0;
  }

  /** When the id was last deleted, or `null`. */
  latest(kind: BulkKind, id: string): number | null {
    return this.#sql.exec<{ at: number | null }>(
      "SELECT max(deleted_at) AS at FROM deletions WHERE kind = ? AND id = ?",
      kind,
      id,
    ).one().at;
  }

  /** The oldest deletions not yet forwarded, of one kind, up to `limit` ids. */
  next(limit: number): DeletionBatch | undefined {
    const first = this.#sql.exec<{ kind: BulkKind }>(
      "SELECT kind FROM deletions WHERE forwarded_at IS NULL ORDER BY seq LIMIT 1",
    ).toArray()[0];
    if (first === undefined) return undefined;
    const rows = this.#sql.exec<{ seq: number; id: string }>(
      "SELECT seq, id FROM deletions WHERE forwarded_at IS NULL AND kind = ? ORDER BY seq LIMIT ?",
      first.kind,
      limit,
    ).toArray();
    return {
      kind: first.kind,
      seqs: rows.map((row) => row.seq),
      ids: [...new Set(rows.map((row) => row.id))],
    };
  }

  /** Userpilot accepted these deletions. */
  forwarded(seqs: readonly number[], now: number): void {
    for (const seq of seqs) this.#sql.exec("UPDATE deletions SET forwarded_at = ? WHERE seq = ?", now, seq);
  }

  /** Forget forwarded tombstones older than `olderThan`. */
  purge(olderThan: number): void {
    this.#sql.exec("DELETE FROM deletions WHERE forwarded_at IS NOT NULL AND forwarded_at < ?", olderThan);
  }
}
