/**
 * The backlog: one SQLite row per profile (`rows`), merged by id under the field model of
 * `row-fields.ts`, pending until a completed job has delivered every current value. Settled rows
 * stay a while, so a late, older Queue message cannot undo a newer value.
 * @module
 */
import type { BulkKind } from "../../core/build-requests.ts";
import { rowId } from "../../core/coalesce.ts";
import type { Company, User } from "../../core/schemas.ts";
import { utf8Length } from "../../core/utf8.ts";
import type { DeletionStore } from "./deletions.ts";
import {
  type Fields,
  fieldsOf,
  keepOldest,
  mergeFields,
  pendingFrom,
  rowOf,
  type Sent,
} from "./row-fields.ts";
import type { SetAsideStore } from "./set-aside.ts";
import type { Sql } from "../sql.ts";

/** Most UTF-8 bytes of a row's stored JSON: SQLite in a Durable Object refuses a row over 2 MB. */
const MAX_STORED_ROW_BYTES = 1_900_000;

function fitsInRow(fieldsText: string, sentText: string): boolean {
  const units = fieldsText.length + sentText.length;
  if (units * 3 <= MAX_STORED_ROW_BYTES) return true; // no UTF-16 unit takes more than 3 bytes
  return utf8Length(fieldsText) + utf8Length(sentText) <= MAX_STORED_ROW_BYTES;
}

/** One row's stored state, parsed. */
export interface StoredRow {
  fields: Fields;
  sent: Sent;
  pendingSince: number | null;
  soloCount: number;
  soloEpoch: number;
  /** Whether the job in flight carries it. */
  inFlight: boolean;
}

/**
 * Pending and recently settled rows. Methods write without a transaction of their own: the
 * delivery store runs each caller's whole change as one.
 */
export class Backlog {
  readonly #sql: Sql;
  readonly #deletions: DeletionStore;
  readonly #setAside: SetAsideStore;

  constructor(sql: Sql, deletions: DeletionStore, setAside: SetAsideStore) {
    this.#sql = sql;
    this.#deletions = deletions;
    this.#setAside = setAside;
  }

  /**
   * Merge accepted rows: per field, the value accepted last wins; a field older than what was
   * delivered is dropped. A `late` message (older than the retention of settled rows) is merged
   * only into rows still kept. Returns how many rows were set aside instead (too large to store,
   * or too late).
   */
  merge(
    kind: BulkKind,
    rows: readonly (User | Company)[],
    receivedAt: number,
    now: number,
    late = false,
  ): number {
    let setAside = 0;
    const tombstones = this.#deletions.any();
    for (const row of rows) {
      const id = rowId(row);
      // A late message accepted before a deletion of this id must not bring its values back.
      const deleted = tombstones ? this.#deletions.latest(kind, id) : null;
      if (deleted !== null && receivedAt < deleted) continue;
      const existing = this.state(kind, id);
      const incoming = fieldsOf(row, receivedAt);
      if (late && existing === undefined) {
        // Later than anything that guards against an older value is kept: with nothing to compare
        // it with, merging could undo a newer value Userpilot has. An operator decides.
        const reason =
          "arrived after its retention window: it could undo newer values, so it waits for an operator";
        this.#setAside.add(kind, id, row, incoming, reason, 0, now);
        setAside++;
        continue;
      }
      const fields: Fields = existing?.fields ?? {};
      const sent: Sent = existing?.sent ?? {};
      const changed = mergeFields(fields, incoming);
      const fieldsText = JSON.stringify(fields);
      const sentText = JSON.stringify(sent);
      if (!fitsInRow(fieldsText, sentText)) {
        // Each message was within its limits, but together they outgrow what SQLite stores in
        // one row. Keep what is stored; set this update aside rather than fail the whole batch.
        const reason = `row too large to store after merging (over ${MAX_STORED_ROW_BYTES} bytes)`;
        this.#setAside.add(kind, id, row, incoming, reason, 0, now);
        setAside++;
        continue;
      }
      const pendingSince = keepOldest(existing?.pendingSince ?? null, pendingFrom(fields, sent));
      if (changed && existing?.inFlight) {
        // Updated while a job carries it: when the job completes, this update is still owed.
        this.#sql.exec(
          "UPDATE inflight SET merged_since = min(coalesce(merged_since, ?1), ?1) WHERE kind = ?2 AND id = ?3",
          receivedAt,
          kind,
          id,
        );
      }
      this.#sql.exec(
        `INSERT INTO rows (kind, id, fields, sent, pending_since) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (kind, id) DO UPDATE SET fields = excluded.fields, pending_since = excluded.pending_since,
           settled_at = CASE WHEN excluded.pending_since IS NULL THEN settled_at END, rev = rev + 1`,
        kind,
        id,
        fieldsText,
        sentText,
        pendingSince,
      );
    }
    return setAside;
  }

  /**
   * A deletion of the id accepted at `deletedAt`: drop every value accepted before it; what is left
   * was accepted after, and is owed from then on.
   */
  dropBefore(kind: BulkKind, id: string, deletedAt: number): void {
    const row = this.state(kind, id);
    if (row === undefined) return;
    const kept: Fields = {};
    for (const name in row.fields) if (row.fields[name]![1] >= deletedAt) kept[name] = row.fields[name]!;
    if (Object.keys(kept).length === 0) {
      this.#sql.exec("DELETE FROM rows WHERE kind = ? AND id = ?", kind, id);
      return;
    }
    const left = pendingFrom(kept, row.sent);
    const pendingSince = keepOldest(Math.max(row.pendingSince ?? deletedAt, deletedAt), left);
    this.#sql.exec(
      `UPDATE rows SET fields = ?, pending_since = ?, settled_at = ?, rev = rev + 1 WHERE kind = ? AND id = ?`,
      JSON.stringify(kept),
      pendingSince,
      pendingSince === null ? deletedAt : null,
      kind,
      id,
    );
  }

  /**
   * Put set-aside fields back with their original times, so a value replaced since stays
   * replaced. The row goes alone (a suspect with limit 1) and is weighed afresh.
   */
  restore(kind: BulkKind, id: string, fields: Fields, since: number | null, now: number): void {
    const row = this.state(kind, id);
    const current: Fields = row?.fields ?? {};
    const sent: Sent = row?.sent ?? {};
    const deleted = this.#deletions.latest(kind, id);
    // The set-aside updates (`since`, and any whose values were replaced since) stay undelivered
    // until the newer values are: the user may not exist in Userpilot yet, so the row's
    // pending_since keeps them and events accepted after them keep waiting.
    let replacedUndelivered = since !== null && (deleted === null || since >= deleted) ? since : null;
    for (const name in fields) {
      const field = fields[name]!;
      if (deleted !== null && field[1] < deleted) continue; // deleted since: it must not come back
      const existing = current[name];
      if (existing !== undefined && existing[1] > field[1]) {
        // Replaced since: the newer value stands.
        if (existing[1] > (sent[name] ?? -1)) replacedUndelivered = keepOldest(replacedUndelivered, field[1]);
        continue;
      }
      current[name] = field;
      if ((sent[name] ?? -1) >= field[1]) delete sent[name]; // delivered was the set-aside value: owe it again
    }
    if (row === undefined && Object.keys(current).length === 0) return;
    const previous = row?.pendingSince ?? null;
    const undelivered = previous === null || replacedUndelivered === null
      ? previous ?? replacedUndelivered
      : Math.min(previous, replacedUndelivered);
    const pendingSince = keepOldest(undelivered, pendingFrom(current, sent));
    this.#sql.exec(
      `INSERT INTO rows (kind, id, fields, sent, pending_since, settled_at, suspect_limit, suspect_at)
       VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?5 IS NULL THEN ?6 END, 1, ?6)
       ON CONFLICT (kind, id) DO UPDATE SET fields = excluded.fields, sent = excluded.sent,
         pending_since = excluded.pending_since, settled_at = excluded.settled_at, suspect_limit = 1,
         suspect_at = excluded.suspect_at, solo_count = 0, solo_epoch = 0, rev = rev + 1`,
      kind,
      id,
      JSON.stringify(current),
      JSON.stringify(sent),
      pendingSince,
      now,
    );
  }

  /**
   * Set aside what a row carried (the values still current; a value replaced since is not lost:
   * the newer one goes on), and settle it. Later updates of the row go alone, as suspects, so a
   * poison value sent again costs one small job, not a bisection.
   */
  setAsideCarried(
    kind: BulkKind,
    id: string,
    carried: Sent,
    mergedSince: number | null,
    reason: string,
    attempts: number,
    now: number,
  ): void {
    const row = this.state(kind, id);
    if (row === undefined) return;
    const kept: Fields = {};
    for (const name in carried) {
      const field = row.fields[name];
      if (field !== undefined && field[1] === carried[name]) kept[name] = field;
    }
    // The oldest update this entry stands for: the row's, or an earlier entry's of the same id
    // whose values these replaced (redriven alone, that one would no longer be pending).
    const earlier = this.#setAside.since(kind, id);
    const since = row.pendingSince === null || earlier === null
      ? row.pendingSince ?? earlier
      : Math.min(row.pendingSince, earlier);
    this.#setAside.add(
      kind,
      id,
      rowOf(kind, id, kept, Object.keys(kept)),
      kept,
      reason,
      attempts,
      now,
      since,
    );
    this.settle(kind, id, carried, mergedSince, now);
    this.#sql.exec(
      `UPDATE rows SET suspect_limit = 1, suspect_at = ?, solo_count = 0, solo_epoch = 0 WHERE kind = ? AND id = ?`,
      now,
      kind,
      id,
    );
  }

  /**
   * Mark carried field times as delivered and recompute whether the row is still pending:
   * `mergedSince` is the oldest update merged while the job ran (still owed, even if replaced);
   * `undefined` keeps the row's own (delta delivery settles what Userpilot already has this way).
   */
  settle(
    kind: BulkKind,
    id: string,
    carried: Sent,
    mergedSince: number | null | undefined,
    now: number,
  ): void {
    const row = this.state(kind, id);
    if (row === undefined) return;
    const { fields, sent } = row;
    for (const name in carried) sent[name] = Math.max(sent[name] ?? -1, carried[name]!);
    const pendingSince = keepOldest(
      mergedSince === undefined ? row.pendingSince : mergedSince,
      pendingFrom(fields, sent),
    );
    this.#sql.exec(
      "UPDATE rows SET sent = ?, pending_since = ?, settled_at = ? WHERE kind = ? AND id = ?",
      JSON.stringify(sent),
      pendingSince,
      pendingSince === null ? now : null,
      kind,
      id,
    );
  }

  /**
   * Drop settled rows older than `olderThan` (late, older duplicates can no longer be told apart
   * after that), except rows of an id whose delete has not yet been rechecked: what was delivered
   * of them may be owed again (see {@link oweAgainAfter}).
   */
  purge(olderThan: number): void {
    this.#sql.exec(
      `DELETE FROM rows WHERE pending_since IS NULL AND settled_at < ? AND NOT EXISTS (SELECT 1 FROM deletions d
         WHERE d.kind = rows.kind AND d.id = rows.id AND d.rechecked = 0)`,
      olderThan,
    );
  }

  /**
   * Userpilot's daily job has run a delete of this id accepted at `deletedAt`, wiping what it had
   * been sent of the id since: every value accepted after the delete is owed again.
   */
  oweAgainAfter(kind: BulkKind, id: string, deletedAt: number, now: number): void {
    const row = this.state(kind, id);
    if (row === undefined) return;
    const { fields, sent } = row;
    let owed = false;
    for (const name in fields) {
      if (fields[name]![1] > deletedAt && sent[name] !== undefined) {
        delete sent[name];
        owed = true;
      }
    }
    if (!owed) return;
    // Owed since the delete: an event of the user accepted after it waits for the profile to be
    // back (a later update may have replaced the values of the first, but not its place in line).
    const pendingSince = keepOldest(
      Math.min(row.pendingSince ?? deletedAt, deletedAt),
      pendingFrom(fields, sent),
    );
    this.#sql.exec(
      "UPDATE rows SET sent = ?, pending_since = ?, settled_at = ?, rev = rev + 1 WHERE kind = ? AND id = ?",
      JSON.stringify(sent),
      pendingSince,
      pendingSince === null ? now : null,
      kind,
      id,
    );
  }

  /** One row's stored state, parsed. */
  state(kind: BulkKind, id: string): StoredRow | undefined {
    const row = this.#sql
      .exec<
        {
          fields: string;
          sent: string;
          pending_since: number | null;
          solo_count: number;
          solo_epoch: number;
          in_flight: number;
        }
      >(
        `SELECT fields, sent, pending_since, solo_count, solo_epoch,
           EXISTS (SELECT 1 FROM inflight i WHERE i.kind = rows.kind AND i.id = rows.id) AS in_flight
         FROM rows WHERE kind = ? AND id = ?`,
        kind,
        id,
      )
      .toArray()[0];
    return row === undefined ? undefined : {
      fields: JSON.parse(row.fields),
      sent: JSON.parse(row.sent),
      pendingSince: row.pending_since,
      soloCount: row.solo_count,
      soloEpoch: row.solo_epoch,
      inFlight: row.in_flight === 1,
    };
  }
}
