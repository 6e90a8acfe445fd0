/**
 * Alert state (`delivery/alerts.ts` decides): the conditions raised and not yet cleared, when each
 * was last notified, and the outbox of signed alerts still to post. In SQLite, so a restart neither
 * forgets a condition (and alerts again) nor loses an alert not yet delivered.
 * @module
 */
import type { Sql } from "../sql.ts";

/** A condition raised and not yet cleared. */
export interface RaisedAlert {
  readonly type: string;
  readonly since: number;
  /** When the receiver was last told (raised or reminded). */
  readonly notifiedAt: number;
  /** A condition's own bookmark (the last `seq` set aside it reported). */
  readonly mark: number;
}

/** An alert waiting to be posted. */
export interface OutboxEntry {
  readonly seq: number;
  /** The `webhook-id`: the same on every attempt, so a receiver can drop repeats. */
  readonly messageId: string;
  readonly body: string;
  readonly attempts: number;
  readonly createdAt: number;
}

/** Alerts kept waiting at most: beyond, the oldest go (a receiver down for days gets the latest). */
export const OUTBOX_KEPT = 100;

/** The `alerts` and `alert_outbox` tables. */
export class AlertStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Every condition raised and not cleared, by type. */
  raised(): RaisedAlert[] {
    return this.#sql.exec<{ type: string; since: number; notifiedAt: number; mark: number }>(
      "SELECT type, since, notified_at AS notifiedAt, mark FROM alerts ORDER BY type",
    ).toArray();
  }

  /** Record a condition raised (`since`), or notified again, at `now`. */
  notified(type: string, since: number, now: number, mark: number): void {
    this.#sql.exec(
      "INSERT OR REPLACE INTO alerts (type, since, notified_at, mark) VALUES (?, ?, ?, ?)",
      type,
      since,
      now,
      mark,
    );
  }

  cleared(type: string): void {
    this.#sql.exec("DELETE FROM alerts WHERE type = ?", type);
  }

  /** Queue an alert to post; past {@link OUTBOX_KEPT} waiting, the oldest goes. */
  queue(messageId: string, body: string, now: number): void {
    const { seq } = this.#sql.exec<{ seq: number }>(
      "INSERT INTO alert_outbox (message_id, body, attempts, next_at, created_at) VALUES (?, ?, 0, ?, ?) RETURNING seq",
      messageId,
      body,
      now,
      now,
    ).one();
    this.#sql.exec("DELETE FROM alert_outbox WHERE seq <= ?", seq - OUTBOX_KEPT);
  }

  /**
   * Up to `limit` alerts due at `now`, oldest first, and none after one still waiting for its
   * retry: alerts go in the order they were made (a `resolved` never overtakes its `raised`).
   */
  due(now: number, limit: number): OutboxEntry[] {
    return this.#sql.exec<
      { seq: number; messageId: string; body: string; attempts: number; createdAt: number }
    >(
      `SELECT seq, message_id AS messageId, body, attempts, created_at AS createdAt FROM alert_outbox
        WHERE seq < coalesce((SELECT min(seq) FROM alert_outbox WHERE next_at > ?), 9e15)
        ORDER BY seq LIMIT ?`,
      now,
      limit,
    ).toArray();
  }

  /** The alert was delivered (or given up on). */
  done(seq: number): void {
    this.#sql.exec("DELETE FROM alert_outbox WHERE seq = ?", seq);
  }

  /** The alert failed: try again at `at`. */
  retry(seq: number, at: number): void {
    this.#sql.exec("UPDATE alert_outbox SET attempts = attempts + 1, next_at = ? WHERE seq = ?", at, seq);
  }

  /** When the next alert is due (the oldest's time: the others wait for it), or `null` when none waits. */
  nextAt(): number | null {
    return this.#sql.exec<{ at: number }>("SELECT next_at AS at FROM alert_outbox ORDER BY seq LIMIT 1")
      .toArray()[0]?.at ?? null;
  }
}
