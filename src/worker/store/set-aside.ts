import type { BulkKind } from "../../core/build-requests.ts";
import type { TrackEvent } from "../../core/event-schema.ts";
import type { Company, User } from "../../core/schemas.ts";
import type { Sql } from "../sql.ts";
import { type Fields, fieldsOf } from "./row-fields.ts";

/** What can be set aside: rows of either kind, and events. */
export type SetAsideKind = BulkKind | "events";

/** One row (or event) set aside, as an operator sees it: the values, why, and when. */
export interface SetAsideRow {
  readonly seq: number;
  readonly kind: SetAsideKind;
  /** The user or company id (for an event, its user's). */
  readonly id: string;
  /** The row in Userpilot's shape, as it would be sent (for an event, the event). */
  readonly row: User | Company | TrackEvent;
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
  row(kind: BulkKind, id: string, fields: Fields, now: number): void;
  event(eventId: string, event: TrackEvent, acceptedAt: number): void;
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
};

const COLUMNS = "seq, kind, id, row, reason, attempts, set_aside_at, fields";

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
    row: User | Company | TrackEvent,
    fields: Fields | { eventId: string; acceptedAt: number },
    reason: string,
    attempts: number,
    now: number,
  ): void {
    this.#sql.exec(
      "INSERT INTO set_aside (kind, id, row, reason, attempts, set_aside_at, fields) VALUES (?, ?, ?, ?, ?, ?, ?)",
      kind,
      id,
      JSON.stringify(row),
      reason,
      attempts,
      now,
      JSON.stringify(fields),
    );
  }

  count(): number {
    return this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM set_aside").one().n;
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
      } else {
        // Entries from before field times were kept: their values count as accepted when set aside.
        const fields: Fields = entry.fields === null
          ? fieldsOf(JSON.parse(entry.row), entry.set_aside_at)
          : JSON.parse(entry.fields);
        this.#restore.row(entry.kind, entry.id, fields, now);
      }
      this.#sql.exec("DELETE FROM set_aside WHERE seq = ?", entry.seq);
    }
    return entries.length;
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
