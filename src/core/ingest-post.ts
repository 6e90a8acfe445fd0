import type { BulkKind } from "./build-requests.ts";
import { HTTPError, RateLimitError } from "./errors.ts";
import { IDEMPOTENCY_KEY_HEADER, newRequestId } from "./request-id.ts";
import { resolveRetryPolicy, type RetryOptions } from "./retry.ts";
import { signingSecretProblem, signPayload } from "./signature.ts";
import { type FetchFunction, send } from "./transport.ts";
import { USER_AGENT } from "./version.ts";

/** Where the ingestion endpoint is, and how to authenticate: a bearer key or a `whsec_…` signing secret. */
export type IngestTarget =
  | { readonly url: string; readonly key: string; readonly signingSecret?: undefined }
  | { readonly url: string; readonly signingSecret: string; readonly key?: undefined };

/** Options of {@link postToIngest}. */
export interface PostToIngestOptions {
  /**
   * The request id (`Idempotency-Key` with a key, `webhook-id` when signing), the same on every
   * attempt. Default: a fresh one. Give the same id again only with the same body: the endpoint
   * answers a repeat with its first 202 and queues nothing, and refuses another body (422).
   */
  id?: string | undefined;
  /** Defaults to the global `fetch`. */
  fetch?: FetchFunction | undefined;
  /** Longest wait for one attempt. Default 10,000 ms. */
  timeoutMs?: number | undefined;
  /** Retries (network errors, 408, 429, 5xx) with the core's backoff. Default: 3 attempts, 200 ms to 2 s apart. */
  retry?: RetryOptions | false | undefined;
  signal?: AbortSignal | undefined;
  /** Told before each retry's wait. */
  onRetry?: ((attempt: number, delayMs: number, reason: string) => void) | undefined;
}

/** What the endpoint answered: rows accepted, and whether it was the answer to an earlier attempt. */
export interface IngestAccepted {
  readonly accepted: number;
  /** `Idempotent-Replayed: true`: the id was accepted before; nothing was queued again. */
  readonly replayed: boolean;
}

/** The endpoint's base URL, checked (http or https), without a trailing `/`. */
export function ingestBaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError("the ingestion endpoint url could not be parsed");
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new TypeError("the ingestion endpoint url must be http(s)");
  }
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}`;
}

/**
 * The credential the callers' settings name, the same everywhere (the client's `fromEnv`, the
 * CLI): `USERPILOT_INGEST_SIGNING_SECRET` (preferred when both are set: it also proves the body)
 * or `USERPILOT_INGEST_KEY`; `undefined` when neither is set.
 */
export function ingestCredentialFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): { readonly signingSecret: string } | { readonly key: string } | undefined {
  const signingSecret = env["USERPILOT_INGEST_SIGNING_SECRET"];
  if (signingSecret) return { signingSecret };
  const key = env["USERPILOT_INGEST_KEY"];
  return key ? { key } : undefined;
}

/** Refuse a target without a usable credential, naming the problem and never the value. */
export function checkIngestTarget(target: IngestTarget, who: string): void {
  const credential = target.key ?? target.signingSecret;
  if (typeof credential !== "string" || credential.length === 0) {
    throw new TypeError(`${who} needs a key or a signingSecret`);
  }
  const problem = target.key === undefined ? signingSecretProblem(credential) : undefined;
  if (problem !== undefined) throw new TypeError(`${who}: the signingSecret ${problem}`);
}

/** One write to the endpoint: its method, path (`/v1/…`) and JSON body. */
export interface IngestWrite {
  readonly method: "POST" | "DELETE";
  readonly path: string;
  readonly body: string;
}

/**
 * Send one write to the ingestion endpoint with one request id on every attempt: signed the
 * Standard Webhooks way (a fresh signature per attempt) with a `signingSecret`, or with the bearer
 * key and an `Idempotency-Key`. Network errors, timeouts, 408, 429 and 5xx are retried with the
 * core's backoff (`Retry-After` as a floor); since the id stays the same, a retry after a lost 202
 * is answered with that 202 and never queues the write again. Throws `HTTPError` for any other
 * answer, or once the retries run out (or the signal's reason, once it aborts).
 */
export async function sendToIngest(
  target: IngestTarget,
  write: IngestWrite,
  options: PostToIngestOptions = {},
): Promise<IngestAccepted> {
  const { method, body } = write;
  const url = `${ingestBaseUrl(target.url)}${write.path}`;
  const id = options.id ?? newRequestId();
  const transport = {
    fetch: options.fetch ?? ((request: Request) => fetch(request)),
    timeoutMs: options.timeoutMs ?? 10_000,
    retry: resolveRetryPolicy(
      options.retry === false
        ? false
        : { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2000, ...options.retry },
    ),
    random: Math.random,
  };
  const failure = (answer: { response: Response; text: string }, retryAfterMs?: number): HTTPError => {
    const init = { status: answer.response.status, method, url, body: answer.text };
    return init.status === 429 ? new RateLimitError({ ...init, retryAfterMs }) : new HTTPError(init);
  };
  const answer = await send(transport, {
    method,
    url,
    request: async (signal) => {
      const headers: Record<string, string> = target.key !== undefined
        ? { Authorization: `Bearer ${target.key}`, [IDEMPOTENCY_KEY_HEADER]: id }
        : await signPayload(target.signingSecret, body, { id });
      headers["Content-Type"] = "application/json";
      headers["User-Agent"] = USER_AGENT;
      return new Request(url, { method, headers, body, signal });
    },
    failure,
    signal: options.signal,
    onRetry: options.onRetry,
  });
  if (!answer.response.ok) throw failure(answer);
  let accepted = 0;
  try {
    accepted = Number((JSON.parse(answer.text) as { accepted?: unknown }).accepted) || 0;
  } catch {
    // A 2xx is an acceptance whatever its body says.
  }
  return { accepted, replayed: answer.response.headers.get("Idempotent-Replayed") === "true" };
}

/**
 * POST one bulk body (`{"users": [...]}` or `{"companies": [...]}`) to the ingestion endpoint's
 * `/v1/{kind}/bulk_identify`, with one request id on every attempt (see {@link sendToIngest}):
 * a retry after a lost 202 is answered with that 202 and never queues (or stamps) the rows again.
 * Throws `HTTPError` for any answer but a 2xx, or once the retries run out.
 *
 * @example
 * ```ts
 * const body = JSON.stringify({ users: [{ user_id: "user_123" }] });
 * const { accepted } = await postToIngest({ url: "https://ingest.example.com", key }, "users", body);
 * ```
 */
export function postToIngest(
  target: IngestTarget,
  kind: BulkKind,
  body: string,
  options: PostToIngestOptions = {},
): Promise<IngestAccepted> {
  return sendToIngest(target, { method: "POST", path: `/v1/${kind}/bulk_identify`, body }, options);
}
