/**
 * Small named values of the delivery object (`meta` table): counters, the job slot's state, the
 * paced streams' states, the schema version.
 * @module
 */
import type { Sql } from "../sql.ts";

/** The running counters the status shows, each under its `meta` key. */
const COUNTERS = {
  rowsReceived: "rows_received",
  rowsDelivered: "rows_delivered",
  eventsReceived: "events_received",
  /** Rows left out of jobs because Userpilot had every value (delta delivery). */
  rowsUnchanged: "rows_unchanged",
  /** Properties left out of jobs because Userpilot had the value (delta delivery). */
  propertiesUnchanged: "properties_unchanged",
  /** Bulk jobs that ended without completing (the policy's `jobFailures`, counted up for ever). */
  jobsFailed: "jobs_failed",
  /** Events Userpilot's track accepted. */
  eventsSent: "events_sent",
  /** Deletions Userpilot accepted (each `DELETE` of an id, as `pending.deletions` counts them). */
  deletionsSent: "deletions_sent",
  /** Userpilot's answers to the delivery object by status class, and requests it never answered. */
  answers2xx: "answers_2xx",
  answers3xx: "answers_3xx",
  answers4xx: "answers_4xx",
  answers5xx: "answers_5xx",
  answersNetworkError: "answers_network_error",
} as const;

/** A counter's name. */
export type Counter = keyof typeof COUNTERS;

/** Key/value pairs in `meta`. */
export class Meta {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  get(key: string): string | undefined {
    return this.#sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value;
  }

  /** Set a value; `undefined` deletes it. */
  set(key: string, value: string | undefined): void {
    if (value === undefined) this.#sql.exec("DELETE FROM meta WHERE key = ?", key);
    else this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  }

  /** Add to a counter. */
  count(counter: Counter, by: number): void {
    if (by !== 0) this.set(COUNTERS[counter], String(this.counter(counter) + by));
  }

  /** A counter's value (0 until first counted). */
  counter(counter: Counter): number {
    return Number(this.get(COUNTERS[counter]) ?? "0");
  }
}
