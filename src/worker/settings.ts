/**
 * The Worker's settings: its secrets and vars, read and checked by one valibot schema, each
 * default a named constant. Shared by every room (ingest, admin, delivery).
 * @module
 */
import * as v from "valibot";
import { normalizeBaseUrl } from "../core/base-url.ts";
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_TRACK_PER_MINUTE,
  USERPILOT_DELETE_INTERVAL_MS,
  USERPILOT_ROWS_PER_MINUTE,
} from "../core/limits.ts";
import { DEFAULT_RESEND_AFTER_HOURS } from "../core/fingerprint.ts";
import { DEFAULT_POLL_INTERVAL_MS } from "../core/poll.ts";
import { apiKeyProblem } from "../core/request-headers.ts";
import { DEFAULT_RETRY_POLICY } from "../core/retry.ts";
import { signingSecretProblem } from "../core/signature.ts";
import {
  ACCESS_HALF_SET,
  accessComplete,
  AccessEntries,
  type AccessSettings,
  accessSettingsOf,
} from "./access-settings.ts";
import {
  AdminKeysSchema,
  type AdminScope,
  commaSeparated,
  type Credential,
  IngestKeysSchema,
  type IngestScope,
  SigningSecretsSchema,
} from "./credentials.ts";

/** The delivery engine's tuning (every value has a default, so a misconfigured object still backs off). */
export interface Tuning {
  readonly maxBodyBytes: number;
  readonly pollIntervalMs: number;
  readonly rowsPerMinute: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Events sent to Userpilot's track per minute, at most (its limit is 600 per key). */
  readonly trackPerMinute: number;
  /** Least time between two forwarded delete requests (Userpilot takes one every 2 seconds). */
  readonly deleteIntervalMs: number;
  /** How long an event waits after it was accepted before it may go to Userpilot. */
  readonly eventHoldMs: number;
  /** How old a delivered value gets before it is sent again even unchanged (Userpilot may have drifted). */
  readonly resendAfterMs: number;
  /** How long a profile's fingerprints are kept after it was last seen. */
  readonly forgetAfterMs: number;
}

/** The Worker's configuration, read from its env. */
export interface Settings extends Tuning {
  readonly userpilotApiKey: string;
  readonly baseUrl: string;
  /** `INGEST_KEYS`: bearer (or `Token`) keys, each with its name and scopes. */
  readonly ingestKeys: readonly Credential<IngestScope>[];
  /** `INGEST_SIGNING_SECRETS`: Standard Webhooks secrets, each with its name and scopes. */
  readonly signingSecrets: readonly Credential<IngestScope>[];
  /** `ADMIN_KEYS`: operators' keys, read-only or full. */
  readonly adminKeys: readonly Credential<AdminScope>[];
  readonly allowedOrigins: readonly string[];
  /** Cloudflare Access (`ACCESS_TEAM_DOMAIN`, `ACCESS_AUD`): `undefined` when not configured. */
  readonly access: AccessSettings | undefined;
  /** Where alerts go (`ALERT_WEBHOOK_URL`, signed with `ALERT_SIGNING_SECRET`); `null`: nowhere. */
  readonly alertWebhook: { readonly url: string; readonly secret: string } | null;
  /** How old the oldest pending row may get before the `backlog_age` alert (`ALERT_BACKLOG_AGE_MINUTES`). */
  readonly alertBacklogAgeMs: number;
}

/** Minutes the oldest pending row may wait before the `backlog_age` alert, by default. */
export const DEFAULT_ALERT_BACKLOG_AGE_MINUTES = 60;

/**
 * How long an event waits after it was accepted by default: the Queue hands batches over within
 * seconds (its batch timeout is 2 s), so an identify accepted just before the event has arrived.
 */
const DEFAULT_EVENT_HOLD_MS = 10_000;

/** Days after which the fingerprints of a profile not seen since are forgotten. */
const DEFAULT_FORGET_AFTER_DAYS = 90;

const HOUR_MS = 3_600_000;

/**
 * How long a client address that failed to authenticate too often is refused: the period of the
 * `AUTH_LIMITER` binding (`simple.period` in wrangler.toml, which a test keeps equal to this).
 */
export const AUTH_FAILURE_PERIOD_SECONDS = 60;

/** The result of reading settings: usable, or the names of what is missing or wrong. */
export type SettingsResult =
  | { ok: true; settings: Settings; warnings: string[] }
  /** `tuning`: the tuning vars if they are valid, else every default, so delivery can still back off. */
  | { ok: false; problems: string[]; tuning: Tuning };

/** A comma-separated var: a list, possibly empty. */
const ListSchema = v.pipe(v.optional(v.string(), ""), v.transform(commaSeparated));

/** A positive number (a var may be written as text or as a TOML number), or `fallback` when unset. */
const positive = (fallback: number) =>
  v.pipe(
    v.optional(v.union([v.string(), v.number()]), ""),
    v.transform((
      value,
    ) => (typeof value === "number" ? value : value.trim() === "" ? fallback : Number(value))),
    v.number("must be a positive number"),
    v.finite("must be a positive number"),
    v.gtValue(0, "must be a positive number"),
  );

/** The tuning vars, each default a named constant of the core (never repeated in `wrangler.toml`). */
const TuningSchema = v.object({
  MAX_BODY_BYTES: positive(DEFAULT_MAX_BODY_BYTES),
  POLL_INTERVAL_MS: positive(DEFAULT_POLL_INTERVAL_MS),
  ROWS_PER_MINUTE: positive(USERPILOT_ROWS_PER_MINUTE),
  BACKOFF_BASE_MS: positive(DEFAULT_RETRY_POLICY.baseDelayMs),
  BACKOFF_MAX_MS: positive(DEFAULT_RETRY_POLICY.maxDelayMs),
  TRACK_PER_MINUTE: positive(DEFAULT_TRACK_PER_MINUTE),
  DELETE_INTERVAL_MS: positive(USERPILOT_DELETE_INTERVAL_MS),
  EVENT_HOLD_MS: positive(DEFAULT_EVENT_HOLD_MS),
  RESEND_AFTER_HOURS: positive(DEFAULT_RESEND_AFTER_HOURS),
  FORGET_AFTER_DAYS: positive(DEFAULT_FORGET_AFTER_DAYS),
});

/** Every setting: the secrets and vars, and the tuning. Secrets are named in messages, never quoted. */
const SettingsSchema = v.pipe(
  v.object({
    USERPILOT_API_KEY: v.pipe(
      v.optional(v.string(), ""),
      v.check((key) => key !== "", "is not set (wrangler secret put USERPILOT_API_KEY)"),
      v.rawCheck(({ dataset, addIssue }) => {
        const problem = dataset.typed && dataset.value !== "" ? apiKeyProblem(dataset.value) : undefined;
        if (problem !== undefined) addIssue({ message: problem });
      }),
    ),
    USERPILOT_BASE_URL: v.pipe(
      v.optional(v.string(), ""),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        try {
          return normalizeBaseUrl(dataset.value || "us");
        } catch (error) {
          addIssue({ message: (error as Error).message });
          return NEVER;
        }
      }),
    ),
    INGEST_KEYS: IngestKeysSchema,
    INGEST_SIGNING_SECRETS: SigningSecretsSchema,
    ADMIN_KEYS: AdminKeysSchema,
    ALLOWED_ORIGINS: ListSchema,
    ...AccessEntries,
    ALERT_WEBHOOK_URL: v.pipe(
      v.optional(v.string(), ""),
      v.check((url) => url === "" || /^https?:\/\/[^/]/.test(url), "must be an http(s) URL"),
    ),
    ALERT_SIGNING_SECRET: v.optional(v.string(), ""),
    ALERT_BACKLOG_AGE_MINUTES: positive(DEFAULT_ALERT_BACKLOG_AGE_MINUTES),
    ...TuningSchema.entries,
  }),
  v.partialCheck([["ACCESS_TEAM_DOMAIN"], ["ACCESS_AUD"]], accessComplete, ACCESS_HALF_SET),
  // Alerts are signed, so a receiver can tell them from anyone's POST: no URL without its secret.
  // (Read from the value as is: checked even when other settings are wrong, so one deploy fixes everything.)
  v.rawCheck(({ dataset, addIssue }) => {
    const { ALERT_WEBHOOK_URL: url, ALERT_SIGNING_SECRET: secret } = dataset.value as Record<string, unknown>;
    if (typeof url !== "string" || url === "") return;
    const problem = secret === "" || secret === undefined
      ? "is not set, but ALERT_WEBHOOK_URL is: alerts are signed (wrangler secret put ALERT_SIGNING_SECRET)"
      : signingSecretProblem(secret);
    if (problem !== undefined) addIssue({ message: `ALERT_SIGNING_SECRET ${problem}` });
  }),
  // Checked even when other settings are wrong, so one deploy fixes everything.
  v.partialCheck(
    [["INGEST_KEYS"], ["INGEST_SIGNING_SECRETS"]],
    (env) => env.INGEST_KEYS.length > 0 || env.INGEST_SIGNING_SECRETS.length > 0,
    "neither INGEST_KEYS nor INGEST_SIGNING_SECRETS is set, so no caller can authenticate",
  ),
  v.partialCheck(
    [["ADMIN_KEYS"], ["INGEST_KEYS"]],
    (env) => !env.ADMIN_KEYS.some((admin) => env.INGEST_KEYS.some((key) => key.secret === admin.secret)),
    "a key is in both ADMIN_KEYS and INGEST_KEYS: callers must not be able to read or change the backlog",
  ),
  // An audit entry names a credential: one name must not stand for both a caller and an operator.
  v.partialCheck(
    [["ADMIN_KEYS"], ["INGEST_KEYS"], ["INGEST_SIGNING_SECRETS"]],
    (env) => {
      const callers = new Set([...env.INGEST_KEYS, ...env.INGEST_SIGNING_SECRETS].map((key) => key.name));
      return !env.ADMIN_KEYS.some((admin) => callers.has(admin.name));
    },
    "a name is given to an admin key and to an ingest credential: give each holder its own name",
  ),
);

function tuningOf(read: v.InferOutput<typeof TuningSchema>): Tuning {
  return {
    maxBodyBytes: read.MAX_BODY_BYTES,
    pollIntervalMs: read.POLL_INTERVAL_MS,
    rowsPerMinute: read.ROWS_PER_MINUTE,
    backoffBaseMs: read.BACKOFF_BASE_MS,
    backoffMaxMs: read.BACKOFF_MAX_MS,
    trackPerMinute: read.TRACK_PER_MINUTE,
    deleteIntervalMs: read.DELETE_INTERVAL_MS,
    eventHoldMs: read.EVENT_HOLD_MS,
    resendAfterMs: read.RESEND_AFTER_HOURS * HOUR_MS,
    forgetAfterMs: read.FORGET_AFTER_DAYS * 24 * HOUR_MS,
  };
}

/** Every tuning var at its default. */
export const DEFAULT_TUNING: Tuning = tuningOf(v.parse(TuningSchema, {}));

/** The tuning of `env` if it is valid, else every default. */
function tuningFallback(env: object): Tuning {
  const read = v.safeParse(TuningSchema, env);
  return read.success ? tuningOf(read.output) : DEFAULT_TUNING;
}

/**
 * Read and check the Worker's settings. Every problem is named (never a secret's value), so one
 * deploy fixes them all.
 *
 * @example
 * ```ts
 * const read = readSettings(env);
 * if (!read.ok) return c.json({ status: "misconfigured", problems: read.problems }, 503);
 * ```
 */
export function readSettings(env: object): SettingsResult {
  const result = v.safeParse(SettingsSchema, env);
  if (!result.success) {
    return {
      ok: false,
      problems: result.issues.map((issue) => {
        const name = v.getDotPath(issue);
        return name === null ? issue.message : `${name} ${issue.message}`;
      }),
      tuning: tuningFallback(env),
    };
  }
  const read = result.output;
  const access = accessSettingsOf(read);
  // With Cloudflare Access, operators need no key.
  const warnings = read.ADMIN_KEYS.length === 0 && access === undefined
    ? ["ADMIN_KEYS is not set: GET /v1/status and the /v1/admin routes answer 401 to everyone"]
    : [];
  if ((env as { AUTH_LIMITER?: unknown }).AUTH_LIMITER === undefined) {
    warnings.push(
      "AUTH_LIMITER is not bound (wrangler.toml [[ratelimits]]): failed authentications are not limited",
    );
  }
  return {
    ok: true,
    warnings,
    settings: {
      userpilotApiKey: read.USERPILOT_API_KEY,
      baseUrl: read.USERPILOT_BASE_URL,
      ingestKeys: read.INGEST_KEYS,
      signingSecrets: read.INGEST_SIGNING_SECRETS,
      adminKeys: read.ADMIN_KEYS,
      allowedOrigins: read.ALLOWED_ORIGINS,
      access,
      alertWebhook: read.ALERT_WEBHOOK_URL === ""
        ? null
        : { url: read.ALERT_WEBHOOK_URL, secret: read.ALERT_SIGNING_SECRET },
      alertBacklogAgeMs: read.ALERT_BACKLOG_AGE_MINUTES * 60_000,
      ...tuningOf(read),
    },
  };
}
