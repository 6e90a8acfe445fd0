/** The Worker's bindings. @module */
import type { DeliveryObject } from "./delivery/index.ts";
import type { QueueMessageBody } from "./queue-message.ts";
// The guard's own module, not ingest/index.ts: the ingest room reads Env, so through its face
// this type would import the room back (a cycle).
import type { ReplayGuard } from "./ingest/replay-guard.ts";

/** The Worker's bindings, as `wrangler.toml` and the secrets declare them. */
export interface Env {
  /** Secret: Userpilot's server-side API key. */
  USERPILOT_API_KEY?: string;
  /** Secret: comma-separated keys for callers, each `key`, `name:key` or `name:scopes:key` (see credentials.ts). */
  INGEST_KEYS?: string;
  /** Secret: comma-separated Standard Webhooks secrets (`whsec_…`) for signed requests, written like INGEST_KEYS. */
  INGEST_SIGNING_SECRETS?: string;
  /** Secret: comma-separated keys for operators (`/v1/status`, `/v1/admin`, the page), each `key`, `name:key` or `name:read|full:key`. */
  ADMIN_KEYS?: string;
  /** Secret: the Standard Webhooks secret (`whsec_…`) alerts are signed with; required with ALERT_WEBHOOK_URL (docs/alerts.md). */
  ALERT_SIGNING_SECRET?: string;
  /** Var: where alerts are posted (docs/alerts.md); unset, none are. */
  ALERT_WEBHOOK_URL?: string;
  /** Var: minutes the oldest pending row may wait before the `backlog_age` alert (default 60). */
  ALERT_BACKLOG_AGE_MINUTES?: string;
  /** Var: `us`, `eu`, or a URL. */
  USERPILOT_BASE_URL?: string;
  /** Var: comma-separated origins allowed by CORS; empty allows none. */
  ALLOWED_ORIGINS?: string;
  /** Var: the Zero Trust team domain, `<team>.cloudflareaccess.com`; with ACCESS_AUD, operators may sign in with Cloudflare Access. */
  ACCESS_TEAM_DOMAIN?: string;
  /** Var: the Access application's audience (AUD) tag; set with ACCESS_TEAM_DOMAIN, or neither. */
  ACCESS_AUD?: string;
  /** Var: what an Access identity may do, `full` (default) or `read`. */
  ACCESS_ADMIN_SCOPE?: string;
  /** Var: largest accepted request body in bytes (default 5 MB). */
  MAX_BODY_BYTES?: string;
  /** Var: how often a running job is polled, in ms (default 5,000). */
  POLL_INTERVAL_MS?: string;
  /** Var: first step of the delivery backoff, in ms (default 1,000; doubles per consecutive failure). */
  BACKOFF_BASE_MS?: string;
  /** Var: longest delivery backoff, in ms (default 60,000). */
  BACKOFF_MAX_MS?: string;
  /** Var: Userpilot's processing rate used for the drain estimate (default 1,200 rows/min). */
  ROWS_PER_MINUTE?: string;
  /** Var: events sent to Userpilot's track per minute, at most (default 500; Userpilot's limit is 600). */
  TRACK_PER_MINUTE?: string;
  /** Var: least time between two forwarded deletes, in ms (default 2,000, Userpilot's pace). */
  DELETE_INTERVAL_MS?: string;
  /** Var: how long an event waits after it was accepted, in ms, for identifies still in the Queue (default 10,000). */
  EVENT_HOLD_MS?: string;
  /** Var: hours after which an unchanged value is sent to Userpilot again (default 168), healing drift. */
  RESEND_AFTER_HOURS?: string;
  /** Var: days after which the fingerprints of a profile not seen since are forgotten (default 90). */
  FORGET_AFTER_DAYS?: string;
  INGEST_QUEUE: Queue<QueueMessageBody>;
  DELIVERY: DurableObjectNamespace<DeliveryObject>;
  REPLAY_GUARD: DurableObjectNamespace<ReplayGuard>;
  /** Rate limiting binding: failed authentications per client address (wrangler.toml; without it they are not limited). */
  AUTH_LIMITER?: RateLimit;
  /** Optional service binding: send Userpilot calls through this Fetcher (an egress proxy, or the sandbox in tests). */
  USERPILOT?: Fetcher;
}
