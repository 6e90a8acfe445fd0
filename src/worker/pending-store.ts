import type { BulkKind } from "../core/build-requests.ts";
import { rowId } from "../core/coalesce.ts";
import type { RowsEffect, SlotState } from "../core/delivery-policy.ts";
import type { Company, User } from "../core/schemas.ts";
import { recordSoloFailure } from "../core/suspects.ts";
import { utf8Length } from "../core/utf8.ts";
import { type Candidate, Lanes } from "./lanes.ts";
import {
  type Fields,
  fieldsOf,
  keepOldest,
  mergeFields,
  pendingFrom,
  rowOf,
  type Sent,
} from "./row-fields.ts";
import { carriedPrints, encodePrints } from "./delta.ts";
import { FingerprintStore } from "./fingerprint-store.ts";
import { Samples } from "./samples.ts";
import { SetAsideStore } from "./set-aside-store.ts";
import { DeletionStore, EventStore } from "./realtime-store.ts";
import { migrate } from "./store-schema.ts";

export type { BacklogCounts, Candidate } from "./lanes.ts";

/** What the delivery object stores about Userpilot's job slot: the policy's state, and the job's kind. */
export interface StoredSlot {
  readonly kind: BulkKind | null;
  readonly state: SlotState;
}

/** Most UTF-8 bytes of a row's stored JSON: SQLite in a Durable Object refuses a row over 2 MB. */
const MAX_STORED_ROW_BYTES = 1_900_000;
/**
 * How long after a delete is forwarded Userpilot may still run it: it schedules deletions for a
 * daily job (about 02:00 UTC), so a margin past a day. Values delivered within it are not taken as
 * kept by Userpilot (no fingerprints), so later identical values are sent again.
 */
export const DELETION_RUN_MS: number = 48 * 60 * 60 * 1000;

function fitsInRow(fieldsText: string, sentText: string): boolean {
  const units = fieldsText.length + sentText.length;
  if (units * 3 <= MAX_STORED_ROW_BYTES) return true; // no UTF-16 unit takes more than 3 bytes
  return utf8Length(fieldsText) + utf8Length(sentText) <= MAX_STORED_ROW_BYTES;
}

type StoredRow = {
  fields: Fields;
  sent: Sent;
  pendingSince: number | null;
  soloCount: number;
  soloEpoch: number;
  /** Whether the job in flight carries it. */
  inFlight: boolean;
};

/**
 * The delivery object's SQLite state: pending rows merged by id in two lanes (fresh, and suspects
 * from failed jobs), the rows of the job in flight, the slot's policy state, and rows set aside.
 * Every method is synchronous; each write is one transaction.
 */
export class PendingStore {
  readonly #sql: SqlStorage;
  readonly #transaction: <T>(fn: () => T) => T;
  /** Rows set aside, kept with their values for an operator. */
  readonly setAside: SetAsideStore;
  /** The two lanes of pending rows: what is ready, the next job's candidates, the counts. */
  readonly lanes: Lanes;
  /** Events for Userpilot's track, in order. */
  readonly events: EventStore;
  /** Deletions: tombstones, and the queue of deletes to forward. */
  readonly deletions: DeletionStore;
  /** One sample a minute of the backlog and of rows delivered, for the operator's chart. */
  readonly samples: Samples;
  /** What Userpilot has, per profile, as fingerprints of what completed jobs delivered. */
  readonly fingerprints: FingerprintStore;

  constructor(storage: DurableObjectStorage, now: number = Date.now()) {
    migrate(storage, now);
    this.#sql = storage.sql;
    this.#transaction = (fn) => storage.transactionSync(fn);
    this.setAside = new SetAsideStore(storage.sql, {
      row: (kind, id, fields) => this.#restore(kind, id, fields),
      event: (eventId, event, acceptedAt) => this.events.restore(eventId, event, acceptedAt),
    });
    this.lanes = new Lanes(storage.sql);
    this.events = new EventStore(storage.sql);
    this.deletions = new DeletionStore(storage.sql);
    this.samples = new Samples(storage.sql);
    this.fingerprints = new FingerprintStore(storage.sql);
  }

  /**
   * Merge accepted rows: per field, the value accepted last wins; a field older than what was
   * delivered is dropped. Returns how many rows had to be set aside instead (too large to store).
   */
  merge(kind: BulkKind, rows: readonly (User | Company)[], receivedAt: number, now: number): number {
    return this.#transaction(() => {
      let setAside = 0;
      const tombstones = this.deletions.any();
      for (const row of rows) {
        const id = rowId(row);
        // A late message accepted before a deletion of this id must not bring its values back.
        const deleted = tombstones ? this.deletions.latest(kind, id) : null;
        if (deleted !== null && receivedAt < deleted) continue;
        const existing = this.#state(kind, id);
        const fields: Fields = existing?.fields ?? {};
        const sent: Sent = existing?.sent ?? {};
        const incoming = fieldsOf(row, receivedAt);
        const changed = mergeFields(fields, incoming);
        const fieldsText = JSON.stringify(fields);
        const sentText = JSON.stringify(sent);
        if (!fitsInRow(fieldsText, sentText)) {
          // Each message was within its limits, but together they outgrow what SQLite stores in
          // one row. Keep what is stored; set this update aside rather than fail the whole batch.
          const reason = `row too large to store after merging (over ${MAX_STORED_ROW_BYTES} bytes)`;
          this.setAside.add(kind, id, row, incoming, reason, 0, now);
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
             rev = rev + 1`,
          kind,
          id,
          fieldsText,
          sentText,
          pendingSince,
        );
      }
      return setAside;
    });
  }

  /**
   * Deletions accepted at `deletedAt`: record them (a repeat is ignored), drop every value and
   * event of those ids accepted before, and hold what comes after until the delete is forwarded.
   * Returns how many were new.
   */
  deleteIds(kind: BulkKind, ids: readonly string[], deletedAt: number): number {
    return this.#transaction(() => {
      let recorded = 0;
      for (const id of ids) {
        if (!this.deletions.add(kind, id, deletedAt)) continue;
        recorded++;
        // Userpilot will not have the profile: whatever comes next is sent whole.
        this.fingerprints.forget(kind, [id]);
        if (kind === "users") this.events.forget(id, deletedAt);
        const row = this.#state(kind, id);
        if (row === undefined) continue;
        const kept: Fields = {};
        for (const name in row.fields) if (row.fields[name]![1] >= deletedAt) kept[name] = row.fields[name]!;
        if (Object.keys(kept).length === 0) {
          this.#sql.exec("DELETE FROM rows WHERE kind = ? AND id = ?", kind, id);
          continue;
        }
        // What is left was accepted after the deletion: owed since then at the earliest.
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
      return recorded;
    });
  }

  /** Whether the job in flight carries any of these ids (of this kind). */
  carriesAny(kind: BulkKind, ids: readonly string[]): boolean {
    return this.#sql.exec(
      "SELECT 1 FROM inflight WHERE kind = ? AND id IN (SELECT value FROM json_each(?)) LIMIT 1",
      kind,
      JSON.stringify(ids),
    ).toArray().length > 0;
  }

  /** Run `fn` as one transaction. */
  transaction<T>(fn: () => T): T {
    return this.#transaction(fn);
  }

  /** The slot as last saved, or a fresh one. */
  slot(initial: () => SlotState): StoredSlot {
    const text = this.meta("slot");
    return text === undefined ? { kind: null, state: initial() } : JSON.parse(text);
  }

  saveSlot(slot: StoredSlot): void {
    this.setMeta("slot", JSON.stringify(slot));
  }

  /** Record a job's rows as in flight, with the slot state that says so, before anything is sent. */
  begin(kind: BulkKind, candidates: readonly Candidate[], state: SlotState): void {
    this.#transaction(() => {
      this.#sql.exec("DELETE FROM inflight");
      for (const { id, row, carried, rev } of candidates) {
        this.#sql.exec(
          "INSERT INTO inflight (kind, id, sent, rev, prints) VALUES (?, ?, ?, ?, ?)",
          kind,
          id,
          JSON.stringify(carried),
          rev,
          encodePrints(carriedPrints(kind, id, row, Object.keys(carried))),
        );
      }
      this.saveSlot({ kind, state });
    });
  }

  /**
   * Apply what the policy decided about the job's rows, and save its new state, in one
   * transaction. Returns how many rows were settled or set aside.
   */
  apply(effect: RowsEffect, slot: StoredSlot, setAsideAfter: number, now: number): number {
    return this.#transaction(() => {
      let count = 0;
      if (effect.type === "settle") {
        count = this.#complete(now);
        this.count("rows_delivered", count);
      } else if (effect.type === "suspect") {
        this.#sql.exec(
          `UPDATE rows SET suspect_limit = min(coalesce(suspect_limit, ?1), ?1), suspect_at = ?2
           WHERE (kind, id) IN (SELECT kind, id FROM inflight)`,
          effect.limit,
          now,
        );
      } else if (effect.type === "failed-alone") {
        count = this.#failedAlone(effect.reason, slot.state.completions, setAsideAfter, now) ? 1 : 0;
      }
      if (effect.type !== "keep" && effect.type !== "settle") this.#forgetCarried();
      if (effect.type !== "keep") this.#sql.exec("DELETE FROM inflight");
      this.saveSlot(effect.type === "keep" ? slot : { kind: null, state: slot.state });
      return count;
    });
  }

  /**
   * Set aside rows that can never be sent as they are (invalid under the current limits),
   * settling what they carried, so they stop blocking the rows behind them.
   */
  reject(kind: BulkKind, candidates: readonly Candidate[], reason: string, now: number): void {
    this.#transaction(() => {
      for (const candidate of candidates) {
        this.#setAsideCarried(kind, candidate.id, candidate.carried, null, reason, 0, now);
      }
    });
  }

  /** Add to a counter kept in `meta`. */
  count(key: string, by: number): void {
    if (by !== 0) this.setMeta(key, String(this.counter(key) + by));
  }

  /** A counter kept in `meta` (0 until first counted). */
  counter(key: string): number {
    return Number(this.meta(key) ?? "0");
  }

  /** Drop settled rows older than `olderThan`: late, older duplicates can no longer be told apart after that. */
  purge(olderThan: number): void {
    this.#sql.exec("DELETE FROM rows WHERE pending_since IS NULL AND settled_at < ?", olderThan);
  }

  /** Rows delivered by completed jobs since counting began (a row sent in parts counts once a part). */
  rowsDelivered(): number {
    return this.counter("rows_delivered");
  }

  meta(key: string): string | undefined {
    return this.#sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value;
  }

  setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.#sql.exec("DELETE FROM meta WHERE key = ?", key);
    else this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  }

  /**
   * The job ended without completing (failed, abandoned past its allowance, unknown to Userpilot,
   * or its submission's answer lost): it may still have applied some of its rows, so what Userpilot
   * has of those profiles is unknown. Forget their fingerprints: their next values are sent whole.
   */
  #forgetCarried(): void {
    for (const kind of ["users", "companies"] as const) {
      const ids = this.#sql.exec<{ id: string }>("SELECT id FROM inflight WHERE kind = ?", kind).toArray();
      this.fingerprints.forget(kind, ids.map((row) => row.id));
    }
  }

  /** The job completed: settle exactly the field values it carried. Returns how many rows it had. */
  #complete(now: number): number {
    const count = this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM inflight").one().n;
    // What Userpilot now has. Not for an id with a delete still to forward, or forwarded less than
    // DELETION_RUN_MS ago: Userpilot runs deletions in a daily job, which wipes what arrived before it.
    const delivered = this.#sql.exec<{ kind: BulkKind; id: string; prints: ArrayBuffer }>(
      `SELECT kind, id, prints FROM inflight WHERE prints IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deletions d
         WHERE d.kind = inflight.kind AND d.id = inflight.id AND (d.forwarded_at IS NULL OR d.forwarded_at > ?))`,
      now - DELETION_RUN_MS,
    );
    for (const { kind, id, prints } of delivered.toArray()) this.fingerprints.record(kind, id, prints, now);
    // Rows nothing was merged into since the job was planned: the job carried every pending
    // field, so each is now delivered (a carried time is always newer than the one it replaces).
    // (Written so that SQLite walks the job's rows by key, not the whole table.)
    this.#sql.exec(
      `UPDATE rows SET sent = json_patch(sent,
           (SELECT inflight.sent FROM inflight WHERE inflight.kind = rows.kind AND inflight.id = rows.id)),
         pending_since = NULL, settled_at = ?, suspect_limit = NULL, suspect_at = NULL, solo_count = 0,
         solo_epoch = 0
       WHERE (kind, id, rev) IN (SELECT kind, id, rev FROM inflight)`,
      now,
    );
    // Rows updated while the job ran, or carried in part: settle exactly what it carried.
    const changed = this.#sql
      .exec<{ kind: string; id: string; sent: string; merged_since: number | null }>(
        `SELECT inflight.kind, inflight.id, inflight.sent, inflight.merged_since FROM inflight
         JOIN rows ON rows.kind = inflight.kind AND rows.id = inflight.id WHERE rows.rev != inflight.rev`,
      )
      .toArray();
    for (const { kind, id, sent, merged_since } of changed) {
      this.settle(kind as BulkKind, id, JSON.parse(sent), merged_since, now);
      // Delivered: whatever is left of it is fresh again.
      this.#sql.exec(
        `UPDATE rows SET suspect_limit = NULL, suspect_at = NULL, solo_count = 0, solo_epoch = 0
         WHERE kind = ? AND id = ?`,
        kind,
        id,
      );
    }
    return count;
  }

  /** The job's one row failed alone: weigh it, and set it aside or send it alone again later. */
  #failedAlone(reason: string, completions: number, setAsideAfter: number, now: number): boolean {
    const inflight =
      this.#sql.exec<{ kind: BulkKind; id: string; sent: string; merged_since: number | null }>(
        "SELECT kind, id, sent, merged_since FROM inflight",
      ).toArray()[0];
    if (inflight === undefined) return false;
    const { kind, id } = inflight;
    const row = this.#state(kind, id);
    if (row === undefined) return false;
    const previous = row.soloCount === 0 ? null : { count: row.soloCount, epoch: row.soloEpoch };
    const { record, setAside } = recordSoloFailure(previous, completions, setAsideAfter);
    if (setAside) {
      this.#setAsideCarried(
        kind,
        id,
        JSON.parse(inflight.sent),
        inflight.merged_since,
        reason,
        record.count,
        now,
      );
      return true;
    }
    this.#sql.exec(
      `UPDATE rows SET suspect_limit = 1, suspect_at = ?, solo_count = ?, solo_epoch = ? WHERE kind = ? AND id = ?`,
      now,
      record.count,
      record.epoch,
      kind,
      id,
    );
    return false;
  }

  /**
   * Set aside what a row carried (the values still current; a value replaced since is not lost:
   * the newer one goes on), and settle it. Later updates of the row go alone, as suspects, so a
   * poison value sent again costs one small job, not a bisection.
   */
  #setAsideCarried(
    kind: BulkKind,
    id: string,
    carried: Sent,
    mergedSince: number | null,
    reason: string,
    attempts: number,
    now: number,
  ): void {
    const row = this.#state(kind, id);
    if (row === undefined) return;
    const kept: Fields = {};
    for (const name in carried) {
      const field = row.fields[name];
      if (field !== undefined && field[1] === carried[name]) kept[name] = field;
    }
    this.setAside.add(kind, id, rowOf(kind, id, kept, Object.keys(kept)), kept, reason, attempts, now);
    this.settle(kind, id, carried, mergedSince, now);
    this.#sql.exec(
      `UPDATE rows SET suspect_limit = 1, suspect_at = ?, solo_count = 0, solo_epoch = 0 WHERE kind = ? AND id = ?`,
      now,
      kind,
      id,
    );
  }

  /**
   * Put set-aside fields back into the backlog with their original times, so a value replaced
   * since stays replaced. The row goes alone (a suspect with limit 1) and is weighed afresh.
   */
  #restore(kind: BulkKind, id: string, fields: Fields): void {
    const row = this.#state(kind, id);
    const current: Fields = row?.fields ?? {};
    const sent: Sent = row?.sent ?? {};
    for (const name in fields) {
      const field = fields[name]!;
      const existing = current[name];
      if (existing !== undefined && existing[1] > field[1]) continue; // replaced since: the newer value stands
      current[name] = field;
      if ((sent[name] ?? -1) >= field[1]) delete sent[name]; // delivered was the set-aside value: owe it again
    }
    const now = Date.now();
    const pendingSince = keepOldest(row?.pendingSince ?? null, pendingFrom(current, sent));
    this.#sql.exec(
      `INSERT INTO rows (kind, id, fields, sent, pending_since, suspect_limit, suspect_at) VALUES (?, ?, ?, ?, ?, 1, ?)
       ON CONFLICT (kind, id) DO UPDATE SET fields = excluded.fields, sent = excluded.sent,
         pending_since = excluded.pending_since, suspect_limit = 1, suspect_at = excluded.suspect_at,
         solo_count = 0, solo_epoch = 0, rev = rev + 1`,
      kind,
      id,
      JSON.stringify(current),
      JSON.stringify(sent),
      pendingSince,
      now,
    );
  }

  /** One row's stored state, parsed. */
  #state(kind: BulkKind, id: string): StoredRow | undefined {
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
    const row = this.#state(kind, id);
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
}
