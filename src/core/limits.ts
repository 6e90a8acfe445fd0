/**
 * Protective limits applied to every row before it is sent.
 *
 * Userpilot documents none of these (see `docs/userpilot-api.md`, "Profile semantics"); they are this
 * project's own choice, to stop a runaway export from filling a profile with junk. Every one can
 * be changed through the `limits` option of `buildBulkIdentifyRequests` and `UserpilotClient`.
 */
export interface RowLimits {
  /** Longest `user_id` / `company_id`, in UTF-16 code units. */
  readonly maxIdLength: number;
  /** Most metadata keys on one row. */
  readonly maxKeys: number;
  /** Longest metadata key, in UTF-16 code units. */
  readonly maxKeyLength: number;
  /** Longest string value, in UTF-16 code units. */
  readonly maxStringLength: number;
}

/** The defaults, documented in docs/core.md. */
export const DEFAULT_ROW_LIMITS: RowLimits = Object.freeze({
  maxIdLength: 255,
  maxKeys: 256,
  maxKeyLength: 128,
  maxStringLength: 8192,
});

/** Userpilot's own ceiling: rows in one bulk request or upload. */
export const MAX_ROWS_PER_REQUEST: number = 10_000;

/**
 * Userpilot's documented processing rate for bulk jobs (the companies page says 1,800; the lower
 * figure is the safe one for estimates).
 */
export const USERPILOT_ROWS_PER_MINUTE: number = 1200;

/**
 * Events a minute the endpoint sends to Userpilot's real-time track by default: under Userpilot's
 * 600 a minute per key, leaving room for other real-time callers of the same key.
 */
export const DEFAULT_TRACK_PER_MINUTE: number = 500;

/** Userpilot's documented pace for deletes: one request every 2 seconds. */
export const USERPILOT_DELETE_INTERVAL_MS: number = 2_000;

/** Userpilot's own ceiling for an uploaded file (50 MB). */
export const MAX_UPLOAD_BYTES: number = 50 * 1024 * 1024;

/**
 * Default ceiling for one JSON body. Userpilot documents none for JSON; 5 MiB holds 10,000 rows of
 * about 500 bytes, and a smaller body is cheaper to resend when a connection drops.
 */
export const DEFAULT_MAX_BODY_BYTES: number = 5 * 1024 * 1024;

/**
 * The ingestion endpoint queues rows in Queue messages of at most this many bytes (under the Queue's
 * 128 KB message limit), so it refuses a row whose body alone would be larger; a sender to it
 * plans with `maxRowBytes` set to this, to reject such a row itself and send the rest.
 */
export const INGEST_MESSAGE_BYTES: number = 120_000;

/**
 * Most issues a validation keeps (`rejected`, the first in input order); `issueCount` counts them
 * all. Bounds what a hostile input can make the core hold and an endpoint answer.
 */
export const DEFAULT_MAX_ISSUES: number = 100;

/** Fill in the defaults for any limit not given. */
export function resolveLimits(limits?: Partial<RowLimits>): RowLimits {
  return limits === undefined ? DEFAULT_ROW_LIMITS : { ...DEFAULT_ROW_LIMITS, ...limits };
}
