import type { BulkKind } from "../../core/build-requests.ts";
import type { TrackEvent } from "../../core/event-schema.ts";
import type { Company, User } from "../../core/schemas.ts";
import type { Sql } from "../sql.ts";
import { type Fields, fieldsOf, rowOf } from "./row-fields.ts";

/** What can be set aside: rows of either kind, events, and deletes. */
export type SetAsideKind = BulkKind | "events" | "deletions";

/** A delete set aside, as an operator sees it: of which kind of profile, and its id. */
export interface DeletionEntry {
  readonly kind: BulkKind;
  readonly id: string;
}

/** One row (or event) set aside, as an operator sees it: the values, why, and when. */
export interface SetAsideRow {
  readonly seq: number;
  readonly kind: SetAsideKind;
  /** The user or company id (for an event, its user's). */
  readonly id: string;
  /** The row in Userpilot's shape, as it would be sent (for an event, the event; for a delete, what it deletes). */
  readonly row: User | Company | TrackEvent | DeletionEntry;
  readonly reason: string;
  /** Counted failures alone (0 when it was never sent). */
  readonly attempts: number;
  readonly setAsideAt: string;
}

/** Which rows set aside an operator acts on: all of them, or these `seq`s. */
export type SetAsideSelection = { readonly all: true } | { readonly seqs: readonly number[] };

/**
 * Puts what was set aside back: a row's fields into the backlog (the pending store's merge
 * model), an event into its user's line.
 */
export interface Restore {
  /**
   * A row's values go back into the backlog; `since` is the oldest update the entry stands for
   * (its values may have been replaced by later ones before it was set aside), `null` if unknown.
   */
  row(kind: BulkKind, id: string, fields: Fields, since: number | null, now: number): void;
  event(eventId: string, event: TrackEvent, acceptedAt: number): void;
  /** A delete accepted at `deletedAt` goes to Userpilot again, as if just accepted then. */
  deletion(kind: BulkKind, id: string, deletedAt: number): void;
}

type Entry = {
  seq: number;
  kind: SetAsideKind;
  id: string;
  row: string;
  reason: string;
  attempts: number;
  set_aside_at: number;
  fields: string | null;
  since: number | null;
};

const COLUMNS = "seq, kind, id, row, reason, attempts, set_aside_at, fields, since";

function view(entry: Entry): SetAsideRow {
  return {
    seq: entry.seq,
    kind: entry.kind,
    id: entry.id,
    row: JSON.parse(entry.row),
    reason: entry.reason,
    attempts: entry.attempts,
    setAsideAt: new Date(entry.set_aside_at).toISOString(),
  };
}

/**
 * Rows set aside: never deleted by delivery, only by an operator's purge. Each keeps its values
 * with the time they were accepted, so a redrive puts them back without undoing a newer value.
 */
export class SetAsideStore {
  readonly #sql: Sql;
  readonly #restore: Restore;

  constructor(sql: Sql, restore: Restore) {
    this.#sql = sql;
    this.#restore = restore;
  }

  add(
    kind: SetAsideKind,
    id: string,
    row: User | Company | TrackEvent | DeletionEntry,
    fields: Fields | { eventId: string; acceptedAt: number } | { deletedAt: number },
    reason: string,
    attempts: number,
    now: number,
    since: number | null = null,
  ): void {
    this.#sql.exec(
      `INSERT INTO set_aside (kind, id, row, reason, attempts, set_aside_at, fields, since)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      kind,
      id,
      JSON.stringify(row),
      reason,
      attempts,
      now,
      JSON.stringify(fields),
      since,
    );
  }

  /** The oldest update the entries of this row stand for (`null`: none, or none recorded). */
  since(kind: BulkKind, id: string): number | null {
    return this.#sql.exec<{ at: number | null }>(
      "SELECT min(since) AS at FROM set_aside WHERE kind = ? AND id = ?",
      kind,
      id,
    ).one().at;
  }

  count(): number {
    return this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM set_aside").one().n;
  }

  /**
   * Entries ever set aside, purged and redriven ones included. `seq` is AUTOINCREMENT, so SQLite
   * keeps the highest one ever issued (`sqlite_sequence`): a counter that costs no write.
   */
  total(): number {
    return this.#sql.exec<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'set_aside'")
      .toArray()[0]?.seq ?? 0;
  }

  /** Entries set aside after `seq`, counted by kind and reason (no values), and the latest `seq`. */
  countedAfter(
    seq: number,
  ): { latest: number; groups: { kind: SetAsideKind; reason: string; count: number }[] } {
    const groups = this.#sql.exec<{ kind: SetAsideKind; reason: string; count: number }>(
      "SELECT kind, reason, count(*) AS count FROM set_aside WHERE seq > ? GROUP BY kind, reason ORDER BY count DESC",
      seq,
    ).toArray();
    const latest = this.#sql.exec<{ seq: number | null }>("SELECT max(seq) AS seq FROM set_aside").one().seq;
    return { latest: latest ?? seq, groups };
  }

  /** A page in `seq` order, after `after`; `next` is the cursor for the following page. */
  list(options: { after?: number; limit: number; kind?: SetAsideKind | undefined }): {
    rows: SetAsideRow[];
    next: number | null;
  } {
    const rows = this.#sql
      .exec<Entry>(
        `SELECT ${COLUMNS} FROM set_aside WHERE seq > ? AND (?2 IS NULL OR kind = ?2) ORDER BY seq LIMIT ?`,
        options.after ?? 0,
        options.kind ?? null,
        options.limit + 1,
      )
      .toArray();
    const more = rows.length > options.limit;
    const page = rows.slice(0, options.limit).map(view);
    return { rows: page, next: more ? page.at(-1)!.seq : null };
  }

  /** The latest `limit`, newest first. */
  recent(limit: number): SetAsideRow[] {
    return this.#sql.exec<Entry>(`SELECT ${COLUMNS} FROM set_aside ORDER BY seq DESC LIMIT ?`, limit)
      .toArray()
      .map(view);
  }

  /**
   * Put up to `limit` selected rows back into the backlog (as of `now`) and remove them from this table.
   * Returns how many; call again until it returns 0 (each call is one transaction's worth).
   */
  redrive(selection: SetAsideSelection, limit: number, now: number): number {
    const entries = this.#select(selection, limit);
    for (const entry of entries) {
      if (entry.kind === "events") {
        const { eventId, acceptedAt } = JSON.parse(entry.fields!);
        this.#restore.event(eventId, JSON.parse(entry.row), acceptedAt);
      } else if (entry.kind === "deletions") {
        const { kind } = JSON.parse(entry.row) as DeletionEntry;
        this.#restore.deletion(kind, entry.id, JSON.parse(entry.fields!).deletedAt);
      } else {
        // Entries from before field times were kept: their values count as accepted when set aside.
        const fields: Fields = entry.fields === null
          ? fieldsOf(JSON.parse(entry.row), entry.set_aside_at)
          : JSON.parse(entry.fields);
        this.#restore.row(entry.kind, entry.id, fields, entry.since, now);
      }
      this.#sql.exec("DELETE FROM set_aside WHERE seq = ?", entry.seq);
    }
    return entries.length;
  }

  /**
   * A delete of this id, accepted at `deletedAt`: what is set aside of it from before then goes
   * too (a redrive must never bring a deleted value back): a row's older fields, its user's older
   * events, an earlier delete of it that Userpilot refused (this one takes its place).
   */
  dropBefore(kind: BulkKind, id: string, deletedAt: number): void {
    const entries = this.#sql.exec<Entry>(
      `SELECT ${COLUMNS} FROM set_aside WHERE (kind = ?1 OR kind = 'deletions' OR (?1 = 'users' AND kind = 'events'))
         AND id = ?2`,
      kind,
      id,
    ).toArray();
    for (const entry of entries) {
      const fields = JSON.parse(entry.fields ?? "{}");
      if (entry.kind === "events" || entry.kind === "deletions") {
        const older = entry.kind === "events"
          ? fields.acceptedAt < deletedAt
          : (JSON.parse(entry.row) as DeletionEntry).kind === kind && fields.deletedAt < deletedAt;
        if (older) this.#sql.exec("DELETE FROM set_aside WHERE seq = ?", entry.seq);
        continue;
      }
      const kept: Fields = {};
      for (const name in fields as Fields) if (fields[name][1] >= deletedAt) kept[name] = fields[name];
      if (Object.keys(kept).length === 0) {
        this.#sql.exec("DELETE FROM set_aside WHERE seq = ?", entry.seq);
      } else if (Object.keys(kept).length < Object.keys(fields).length) {
        this.#sql.exec(
          "UPDATE set_aside SET fields = ?, row = ? WHERE seq = ?",
          JSON.stringify(kept),
          JSON.stringify(rowOf(kind, id, kept, Object.keys(kept))),
          entry.seq,
        );
      }
    }
  }

  /** Delete up to `limit` entries set aside before `before` (past their retention). Returns which. */
  expire(before: number, limit: number): { seq: number; kind: string; id: string }[] {
    return this.#sql.exec<{ seq: number; kind: string; id: string }>(
      `DELETE FROM set_aside WHERE seq IN (SELECT seq FROM set_aside WHERE set_aside_at < ? ORDER BY seq LIMIT ?)
       RETURNING seq, kind, id`,
      before,
      limit,
    ).toArray();
  }

  /** Delete up to `limit` selected rows for good. Returns how many. */
  purge(selection: SetAsideSelection, limit: number): number {
    const entries = this.#select(selection, limit);
    for (const entry of entries) this.#sql.exec("DELETE FROM set_aside WHERE seq = ?", entry.seq);
    return entries.length;
  }

  #select(selection: SetAsideSelection, limit: number): Entry[] {
    if ("all" in selection) {
      return this.#sql.exec<Entry>(`SELECT ${COLUMNS} FROM set_aside ORDER BY seq LIMIT ?`, limit).toArray();
    }
    // A longer selection would be cut short here without a word: its caller splits it (the engine).
    if (selection.seqs.length > limit) throw new RangeError(`${selection.seqs.length} seqs, over ${limit}`);
    const entries: Entry[] = [];
    for (const seq of selection.seqs) {
      const entry = this.#sql.exec<Entry>(`SELECT ${COLUMNS} FROM set_aside WHERE seq = ?`, seq).toArray()[0];
      if (entry !== undefined) entries.push(entry);
    }
    return entries;
  }
}
