import type { Sql } from "../sql.ts";

/** Minutes of history the operator's chart shows: 24 hours, one sample a minute at most. */
export const SAMPLE_MINUTES = 1_440;

const MINUTE_MS = 60_000;

/** What a sample records: the backlog, and the running total of rows delivered. */
export interface Observation {
  /** Pending rows of every kind. */
  readonly pending: number;
  /** Rows delivered since counting began, a running job's `completed_rows` included. */
  readonly delivered: number;
}

/** One minute of history. `minute` counts minutes since the Unix epoch. */
export interface Sample extends Observation {
  readonly minute: number;
}

type Row = { minute: number; pending: number; delivered: number };

/** The minute of a time in milliseconds. */
export const minuteOf = (ms: number): number => Math.floor(ms / MINUTE_MS);

/**
 * The delivery object's history for the operator's chart: one row a minute in SQLite, pruned to
 * {@link SAMPLE_MINUTES} (plus the one the window opened with, so at most 1,441 rows). Recording costs nothing until the minute changes (the check is in
 * memory), then one observation and one write: the Queue's path stays as it was.
 */
export class Samples {
  readonly #sql: Sql;
  /** The latest sample written; `undefined` until read once from the table. */
  #last: Sample | null | undefined;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /**
   * Record what `observe` returns for the minute of `now`, unless that minute has its sample.
   * `final` says the object is going idle: then a change since this minute's sample rewrites it,
   * so an idle stretch is drawn in the state it is really in (one more write per drain, at most).
   *
   * @example
   * ```ts
   * store.samples.record(Date.now(), () => ({ pending: 120, delivered: 4_000 }));
   * ```
   */
  record(now: number, observe: () => Observation, final = false): void {
    const last = this.#latest();
    // A clock that stepped back writes into the latest minute rather than before it.
    const minute = Math.max(minuteOf(now), last?.minute ?? Number.NEGATIVE_INFINITY);
    const rewrite = last !== null && minute === last.minute;
    if (rewrite && !final) return;
    const observed = observe();
    if (rewrite && observed.pending === last.pending && observed.delivered === last.delivered) return;
    this.#sql.exec(
      "INSERT OR REPLACE INTO samples (minute, pending, delivered) VALUES (?, ?, ?)",
      minute,
      observed.pending,
      observed.delivered,
    );
    // Past 24 hours, only the latest sample stays: the state an idle stretch began in.
    if (!rewrite) {
      this.#sql.exec(
        "DELETE FROM samples WHERE minute < (SELECT max(minute) FROM samples WHERE minute <= ?)",
        minute - SAMPLE_MINUTES,
      );
    }
    this.#last = { minute, pending: observed.pending, delivered: observed.delivered };
  }

  /**
   * The samples of the {@link SAMPLE_MINUTES} up to `now`, oldest first, after the latest one
   * before them (the state the window opened in; nothing changes between samples).
   */
  list(now: number): Sample[] {
    return this.#sql
      .exec<Row>(
        `SELECT minute, pending, delivered FROM samples
         WHERE minute >= coalesce((SELECT max(minute) FROM samples WHERE minute <= ?1), ?1) ORDER BY minute`,
        minuteOf(now) - SAMPLE_MINUTES,
      )
      .toArray()
      .map(({ minute, pending, delivered }) => ({ minute, pending, delivered }));
  }

  #latest(): Sample | null {
    if (this.#last === undefined) {
      this.#last = this.#sql
        .exec<Row>("SELECT minute, pending, delivered FROM samples ORDER BY minute DESC LIMIT 1")
        .toArray()[0] ?? null;
    }
    return this.#last;
  }
}
