import type { TrackEvent } from "../../core/event-schema.ts";
import type { SoloFailures } from "../../core/suspects.ts";
import type { AcceptedEvent } from "../queue-message.ts";
import type { Sql } from "../sql.ts";

/**
 * An event free to go once its wait ends: not delivered, its user's oldest (by acceptance stamp,
 * then arrival: the Queue may hand messages over out of order), no update of its user
 * accepted before it still pending and none set aside (Userpilot ignores events of users it does
 * not know: the event waits until an operator redrives the row, or purges it), and no delete of
 * its user waiting to be forwarded, or forwarded but not yet run by Userpilot's daily job (which
 * would wipe the user the event needs: it goes after the user is identified again). SQL over
 * `events e`.
 */
const FREE_TO_GO = `e.delivered_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM events x WHERE x.user_id = e.user_id AND x.delivered_at IS NULL
    AND (x.accepted_at < e.accepted_at OR (x.accepted_at = e.accepted_at AND x.seq < e.seq)))
  AND NOT EXISTS (SELECT 1 FROM rows r WHERE r.kind = 'users' AND r.id = e.user_id
    AND r.pending_since IS NOT NULL AND r.pending_since <= e.accepted_at)
  AND NOT EXISTS (SELECT 1 FROM set_aside s WHERE s.kind = 'users' AND s.id = e.user_id)
  AND NOT EXISTS (SELECT 1 FROM deletions d WHERE d.kind = 'users' AND d.id = e.user_id
    AND (d.forwarded_at IS NULL OR d.rechecked = 0))`;

/** A queued event, as the delivery object sends it. */
export interface QueuedEvent {
  readonly seq: number;
  readonly eventId: string;
  readonly event: TrackEvent;
  readonly acceptedAt: number;
  /** Its record of refusals (`null`: never refused). */
  readonly refusals: SoloFailures | null;
}

/**
 * Events for Userpilot's `POST /v1/track`, in the order accepted (per user, by acceptance stamp). An event is sent only when
 * it is its user's oldest, every identify of that user accepted before it has been delivered
 * (Userpilot ignores events of users it does not know) and none is set aside, and no deletion of
 * the user is waiting to be forwarded. Delivered events are remembered (by id) for their retention, so a redelivered Queue message
 * is not sent twice.
 */
export class EventStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Queue accepted events, except repeats and those of a user deleted after they were accepted. */
  add(
    events: readonly AcceptedEvent[],
    acceptedAt: number,
    deletedAt: (userId: string) => number | null,
  ): number {
    let added = 0;
    for (const { eventId, event } of events) {
      const deleted = deletedAt(event.user_id);
      if (deleted !== null && deleted > acceptedAt) continue;
      added += this.#sql.exec(
          `INSERT OR IGNORE INTO events (event_id, user_id, body, accepted_at) VALUES (?, ?, ?, ?)`,
          eventId,
          event.user_id,
          JSON.stringify(event),
          acceptedAt,
        ).rowsWritten > 0
        ? 1
        : 0;
    }
    return added;
  }

  /**
   * Up to `limit` events that may be sent at `now`, oldest first: each accepted at least `holdMs`
   * ago (so an identify accepted before it, still on its way through the Queue, arrives first).
   */
  ready(limit: number, now: number, holdMs: number): QueuedEvent[] {
    return this.#sql
      .exec<
        {
          seq: number;
          event_id: string;
          body: string;
          accepted_at: number;
          solo_count: number;
          solo_epoch: number;
        }
      >(
        `SELECT seq, event_id, body, accepted_at, solo_count, solo_epoch FROM events e
         WHERE ${FREE_TO_GO} AND (retry_at IS NULL OR retry_at <= ?) AND accepted_at <= ?
         ORDER BY seq LIMIT ?`,
        now,
        now - holdMs,
        limit,
      )
      .toArray()
      .map((row) => ({
        seq: row.seq,
        eventId: row.event_id,
        event: JSON.parse(row.body),
        acceptedAt: row.accepted_at,
        refusals: row.solo_count === 0 ? null : { count: row.solo_count, epoch: row.solo_epoch },
      }));
  }

  /** Userpilot has it: only its id is kept now (for its retention), so a late copy is not sent again. */
  delivered(seq: number, now: number): void {
    this.#sql.exec("UPDATE events SET delivered_at = ?, body = '' WHERE seq = ?", now, seq);
  }

  /** Userpilot refused it again: it stays first in its user's line, and waits until `retryAt`. */
  refused(seq: number, record: SoloFailures, retryAt: number): void {
    this.#sql.exec(
      "UPDATE events SET solo_count = ?, solo_epoch = ?, retry_at = ? WHERE seq = ?",
      record.count,
      record.epoch,
      retryAt,
      seq,
    );
  }

  /** Take an event out of the line (it is being set aside). */
  remove(seq: number): void {
    this.#sql.exec("DELETE FROM events WHERE seq = ?", seq);
  }

  /** Put an event set aside back in its user's line (a redrive), with its id and acceptance time. */
  restore(eventId: string, event: TrackEvent, acceptedAt: number): void {
    this.#sql.exec(
      "INSERT OR IGNORE INTO events (event_id, user_id, body, accepted_at) VALUES (?, ?, ?, ?)",
      eventId,
      event.user_id,
      JSON.stringify(event),
      acceptedAt,
    );
  }

  /**
   * When the next event free to go (see `FREE_TO_GO`) may go: its hold or retry wait ends. An event
   * held by its user's pending identify or delete is not counted: it is looked at again when a job
   * completes or a delete is forwarded (counting it would wake the object every millisecond).
   */
  nextReadyAt(holdMs: number): number | null {
    return this.#sql.exec<{ at: number | null }>(
      `SELECT min(max(coalesce(retry_at, 0), accepted_at + ?)) AS at FROM events e WHERE ${FREE_TO_GO}`,
      holdMs,
    ).one().at;
  }

  /** A user was deleted: drop the events accepted before the deletion. */
  forget(userId: string, deletedAt: number): void {
    this.#sql.exec(
      "DELETE FROM events WHERE user_id = ? AND delivered_at IS NULL AND accepted_at < ?",
      userId,
      deletedAt,
    );
  }

  /** Forget events delivered before `olderThan`. Returns how many. */
  purge(olderThan: number): number {
    return this.#sql.exec("DELETE FROM events WHERE delivered_at IS NOT NULL AND delivered_at < ?", olderThan)
      .rowsWritten;
  }
}
