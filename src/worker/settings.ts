import { normalizeBaseUrl } from "../core/base-url.ts";
import { signingSecretProblem } from "../core/signature.ts";
import type { DeliveryObject } from "./delivery-object.ts";
import type { Env } from "./env.ts";

/** The Worker's configuration, read from its env. */
export interface Settings {
  readonly userpilotApiKey: string;
  readonly baseUrl: string;
  readonly ingestKeys: readonly string[];
  readonly signingSecrets: readonly string[];
  readonly allowedOrigins: readonly string[];
  readonly maxBodyBytes: number;
  readonly pollIntervalMs: number;
  readonly maxJobAttempts: number;
  readonly rowsPerMinute: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

/** The result of reading settings: usable, or the names of what is missing or wrong. */
export type SettingsResult = { ok: true; settings: Settings } | { ok: false; problems: string[] };

const list = (value: string | undefined): string[] =>
  (value ?? "").split(",").map((item) => item.trim()).filter((item) => item.length > 0);

function positive(name: string, value: string | undefined, fallback: number, problems: string[]): number {
  if (value === undefined || value.trim() === "") return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) problems.push(`${name} must be a positive number`);
  return number;
}

/**
 * Read and check the Worker's settings. Every problem is named (never a secret's value), so one
 * deploy fixes them all.
 */
export function readSettings(env: Env): SettingsResult {
  const problems: string[] = [];
  const userpilotApiKey = env.USERPILOT_API_KEY?.trim() ?? "";
  if (userpilotApiKey === "") {
    problems.push("USERPILOT_API_KEY is not set (wrangler secret put USERPILOT_API_KEY)");
  }
  const ingestKeys = list(env.INGEST_KEYS);
  const signingSecrets = list(env.INGEST_SIGNING_SECRETS);
  signingSecrets.forEach((secret, i) => {
    const problem = signingSecretProblem(secret);
    if (problem !== undefined) problems.push(`INGEST_SIGNING_SECRETS: secret ${i + 1} ${problem}`);
  });
  if (ingestKeys.length === 0 && signingSecrets.length === 0) {
    problems.push("neither INGEST_KEYS nor INGEST_SIGNING_SECRETS is set, so no caller can authenticate");
  }
  let baseUrl = "";
  try {
    baseUrl = normalizeBaseUrl(env.USERPILOT_BASE_URL || "us");
  } catch (error) {
    problems.push(`USERPILOT_BASE_URL: ${(error as Error).message}`);
  }
  const settings: Settings = {
    userpilotApiKey,
    baseUrl,
    ingestKeys,
    signingSecrets,
    allowedOrigins: list(env.ALLOWED_ORIGINS),
    maxBodyBytes: positive("MAX_BODY_BYTES", env.MAX_BODY_BYTES, 5 * 1024 * 1024, problems),
    pollIntervalMs: positive("POLL_INTERVAL_MS", env.POLL_INTERVAL_MS, 5000, problems),
    maxJobAttempts: positive("MAX_JOB_ATTEMPTS", env.MAX_JOB_ATTEMPTS, 5, problems),
    rowsPerMinute: positive("ROWS_PER_MINUTE", env.ROWS_PER_MINUTE, 1200, problems),
    backoffBaseMs: positive("BACKOFF_BASE_MS", env.BACKOFF_BASE_MS, 1000, problems),
    backoffMaxMs: positive("BACKOFF_MAX_MS", env.BACKOFF_MAX_MS, 60_000, problems),
  };
  return problems.length > 0 ? { ok: false, problems } : { ok: true, settings };
}

/**
 * The Durable Object that holds the backlog for the configured Userpilot environment. It is named
 * by the base URL alone: rotating `USERPILOT_API_KEY` must not split the backlog in two. Needs no
 * other setting, so the Queue consumer can always hand rows over, even while secrets are being
 * fixed.
 */
export function deliveryStub(env: Env): DurableObjectStub<DeliveryObject> {
  let baseUrl: string;
  try {
    baseUrl = normalizeBaseUrl(env.USERPILOT_BASE_URL || "us");
  } catch {
    baseUrl = `invalid:${env.USERPILOT_BASE_URL}`; // still one stable place; the alarm reports the setting
  }
  return env.DELIVERY.get(env.DELIVERY.idFromName(baseUrl));
}
