import type { BulkKind } from "../../core/build-requests.ts";
import type { SoloFailures } from "../../core/suspects.ts";
import type { Sql } from "../sql.ts";

/** A batch of deletions of one kind to forward to Userpilot in one request. */
export interface DeletionBatch {
  readonly kind: BulkKind;
  readonly seqs: number[];
  /** The ids, each once. */
  readonly ids: string[];
  /** For a deletion that goes alone (Userpilot refused a batch it was in): its record of refusals. */
  readonly alone?: { readonly deletedAt: number; readonly refusals: SoloFailures | null };
}

/**
 * Deletions accepted by the gateway (`DELETE /v1/users`, `/v1/companies`). Each is a tombstone
 * with the time it was accepted: values and events accepted before it are dropped, and rows and
 * events of the id accepted after it are held until Userpilot has the delete. Once Userpilot's
 * daily job has surely run a forwarded delete (`DELETION_RUN_MS`), the tombstone is rechecked:
 * what was delivered of the id since is owed again. Tombstones are kept for their retention, so
 * a late, older Queue message cannot bring a deleted value back.
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

  /**
   * The oldest deletions not yet forwarded and not waiting for a retry at `now` (those Userpilot
   * has refused after all others, so they take turns rather than hold the line): one that goes
   * alone, or up to `limit` of one kind.
   */
  next(limit: number, now: number): DeletionBatch | undefined {
    const first = this.#sql.exec<
      {
        seq: number;
        kind: BulkKind;
        id: string;
        solo: number;
        solo_count: number;
        solo_epoch: number;
        deleted_at: number;
      }
    >(
      `SELECT seq, kind, id, solo, solo_count, solo_epoch, deleted_at FROM deletions
       WHERE forwarded_at IS NULL AND (retry_at IS NULL OR retry_at <= ?) ORDER BY solo_count > 0, seq LIMIT 1`,
      now,
    ).toArray()[0];
    if (first === undefined) return undefined;
    if (first.solo === 1) {
      const refusals = first.solo_count === 0 ? null : { count: first.solo_count, epoch: first.solo_epoch };
      return {
        kind: first.kind,
        seqs: [first.seq],
        ids: [first.id],
        alone: { deletedAt: first.deleted_at, refusals },
      };
    }
    const rows = this.#sql.exec<{ seq: number; id: string }>(
      `SELECT seq, id FROM deletions WHERE forwarded_at IS NULL AND kind = ? AND solo = 0
         AND (retry_at IS NULL OR retry_at <= ?) ORDER BY seq LIMIT ?`,
      first.kind,
      now,
      limit,
    ).toArray();
    return {
      kind: first.kind,
      seqs: rows.map((row) => row.seq),
      ids: [...new Set(rows.map((row) => row.id))],
    };
  }

  /** When the next deletion waiting for a retry may go, if one waits. */
  nextRetryAt(): number | null {
    return this.#sql.exec<{ at: number | null }>(
      "SELECT min(retry_at) AS at FROM deletions WHERE forwarded_at IS NULL",
    ).one().at;
  }

  /** Userpilot refused a request holding these: from now on each goes alone, to find which. */
  alone(seqs: readonly number[]): void {
    for (const seq of seqs) this.#sql.exec("UPDATE deletions SET solo = 1 WHERE seq = ?", seq);
  }

  /** Userpilot refused this deletion alone again: it waits until `retryAt`, the others go on. */
  refused(seq: number, record: SoloFailures, retryAt: number): void {
    this.#sql.exec(
      "UPDATE deletions SET solo_count = ?, solo_epoch = ?, retry_at = ? WHERE seq = ?",
      record.count,
      record.epoch,
      retryAt,
      seq,
    );
  }

  /** Take a deletion out of the line (it is being set aside): it holds nothing any more. */
  remove(seq: number): void {
    this.#sql.exec("DELETE FROM deletions WHERE seq = ?", seq);
  }

  /** Userpilot accepted these deletions. */
  forwarded(seqs: readonly number[], now: number): void {
    for (const seq of seqs) this.#sql.exec("UPDATE deletions SET forwarded_at = ? WHERE seq = ?", now, seq);
  }

  /** Up to `limit` forwarded deletions not yet rechecked, forwarded before `before`. */
  dueForRecheck(
    before: number,
    limit: number,
  ): { seq: number; kind: BulkKind; id: string; deletedAt: number }[] {
    return this.#sql.exec<{ seq: number; kind: BulkKind; id: string; deleted_at: number }>(
      `SELECT seq, kind, id, deleted_at FROM deletions WHERE rechecked = 0 AND forwarded_at IS NOT NULL
         AND forwarded_at < ? ORDER BY forwarded_at LIMIT ?`,
      before,
      limit,
    ).toArray().map(({ seq, kind, id, deleted_at }) => ({ seq, kind, id, deletedAt: deleted_at }));
  }

  /** When the first forwarded deletion not yet rechecked was forwarded, if any. */
  firstUnrechecked(): number | null {
    return this.#sql.exec<{ at: number | null }>(
      "SELECT min(forwarded_at) AS at FROM deletions WHERE rechecked = 0 AND forwarded_at IS NOT NULL",
    ).one().at;
  }

  /** The deletion's id has been looked at after Userpilot's deletion job. */
  rechecked(seq: number): void {
    this.#sql.exec("UPDATE deletions SET rechecked = 1 WHERE seq = ?", seq);
  }

  /** Forget rechecked tombstones forwarded before `olderThan`. Returns how many. */
  purge(olderThan: number): number {
    return this.#sql.exec(
      "DELETE FROM deletions WHERE rechecked = 1 AND forwarded_at < ?",
      olderThan,
    ).rowsWritten;
  }
}
