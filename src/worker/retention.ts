/**
 * How long the Worker keeps what it keeps, in one place: every table that grows with traffic has
 * its line here (but fingerprints, kept `FORGET_AFTER_DAYS` after a profile was last seen, a
 * setting, and the chart's samples, `SAMPLE_MINUTES`). Windows that guard against something say
 * what.
 * @module
 */

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/**
 * How late a Queue message can arrive: 10 tries 60 s apart at most, then 100 on the dead-letter
 * queue (wrangler.toml), with room to spare. What guards against a late, older message (settled
 * rows, delivered events' ids) is kept this long; a message later than this is not merged but set
 * aside (its values could no longer be told from newer ones).
 */
export const LATE_MESSAGE_MS: number = 3 * HOUR_MS;

/**
 * How long after a delete is forwarded Userpilot may still run it: it schedules deletions for a
 * daily job (about 02:00 UTC), so a margin past a day. Values delivered within it are not taken as
 * kept by Userpilot: once it has passed, they are sent again (and a deletion's tombstone goes).
 */
export const DELETION_RUN_MS: number = 48 * HOUR_MS;

/** How long an accepted request id is remembered: its repeats get the original 202 meanwhile. */
export const IDEMPOTENCY_WINDOW_MS: number = 24 * HOUR_MS;

/** What the delivery object keeps, and for how long. */
export interface Retention {
  /** Settled rows: a late, older Queue message cannot undo a newer value while they are kept. */
  readonly settledRowsMs: number;
  /** Delivered events (their ids; the body goes at delivery): a late copy is not sent twice. */
  readonly deliveredEventsMs: number;
  /** Rows and events set aside, unless an operator acts first. */
  readonly setAsideMs: number;
}

/** The delivery object's retention. */
export const RETENTION: Retention = {
  settledRowsMs: LATE_MESSAGE_MS,
  deliveredEventsMs: LATE_MESSAGE_MS,
  setAsideMs: 30 * DAY_MS,
};
