/**
 * What the ingest client promises its callers: its options, the client's calls, and what a flush
 * or `close()` resolves to. How it keeps those promises is `ingest-client.ts`.
 * @module
 */
import type { UserpilotError } from "./errors.ts";
import type { IngestTarget } from "./ingest-post.ts";
import type { CompanyInput, EventInput, UserInput } from "./inputs.ts";
import type { RetryOptions } from "./retry.ts";
import type { FetchFunction } from "./transport.ts";

/** Options of {@link createIngestClient}. */
export interface IngestClientOptions {
  /** Defaults to the global `fetch`. */
  fetch?: FetchFunction | undefined;
  /**
   * Per-request use: keeps the send alive after the response is returned (a Worker's
   * `ctx.waitUntil`, or `event.waitUntil` in edge middleware). With it, calls are sent on their
   * own right after the current task; without it (and without `flushAt` / `flushIntervalMs`),
   * call `flush()`. If it throws (outside a request, say), the send goes on without it and
   * `onError` hears why.
   */
  waitUntil?: ((promise: Promise<unknown>) => void) | undefined;
  /**
   * Per-request use: the longest a send may take, every attempt and wait included, counted from
   * the flush that starts it. Default 25,000 ms, inside the 30 s a Worker's `waitUntil` grants, so
   * a send cut short is reported to `onError` rather than cut off unheard.
   */
  deadlineMs?: number | undefined;
  /**
   * Long-lived use (a Node, Bun or Deno server, a queue worker): send as soon as this many calls
   * are waiting, in bodies of at most this many rows (1 to 10,000). Default 1,000 once
   * `flushIntervalMs` is given. Call `close()` before the process exits.
   */
  flushAt?: number | undefined;
  /**
   * Long-lived use: send what is waiting at most this long (ms) after the first of it arrived.
   * Default 10,000 once `flushAt` is given.
   */
  flushIntervalMs?: number | undefined;
  /**
   * Told of every failure: calls refused before sending, sends that failed after retries, sends
   * cut by the deadline or by `close()`'s timeout, a `waitUntil` that threw. Never thrown.
   */
  onError?: ((error: UserpilotError) => void) | undefined;
  /**
   * Told of a call that is sent but may not do what it seems: a property Userpilot sets itself
   * (`first_seen_at`, `last_seen_at`). Once per property per client. Default `console.warn`.
   */
  onWarning?: ((message: string) => void) | undefined;
  /** Longest wait for one attempt. Default 10,000 ms. */
  timeoutMs?: number | undefined;
  /**
   * Retries of a send (network errors, 408, 429, 5xx). Default: 3 attempts, 200 ms to 2 s apart;
   * long-lived clients 5 attempts, 500 ms to 8 s apart.
   */
  retry?: RetryOptions | false | undefined;
}

/** Options of {@link IngestClient.flush} and {@link IngestClient.close}. */
export interface IngestFlushOptions {
  /**
   * The longest to wait. `flush()` then resolves with what is still `pending` (its sends go on);
   * `close()` stops its sends, reports what they carried to `onError` as not sent, and resolves.
   * Default: `flush()` waits for its sends (bounded by the retry policy, and the deadline in
   * per-request use); `close()` waits at most 25,000 ms.
   */
  timeoutMs?: number | undefined;
}

/** What a flush (or a client's whole life, for `close()`) did. */
export interface IngestFlushResult {
  /** Rows (merged by id), events and ids the endpoint accepted (202). */
  readonly sent: number;
  /** Rows, events and ids whose send failed or was cut short; each failure went to `onError`. */
  readonly failed: number;
  /** Calls still waiting or being sent when a `timeoutMs` ran out (0 once settled). */
  readonly pending: number;
}

/** The whole ingestion endpoint from one client, batched; nothing it does throws into the caller. */
export interface IngestClient {
  /** Queue one user. Invalid rows (checked at run time too) go to `onError`. */
  identify(user: UserInput): void;
  /** Queue one company. Invalid rows (checked at run time too) go to `onError`. */
  identifyCompany(company: CompanyInput): void;
  /** Queue one event (`POST /v1/track`, one request each), sent after the identifies queued with it. */
  track(event: EventInput): void;
  /**
   * Queue a deletion of users (`DELETE /v1/users`). Calls before it reach the endpoint before it,
   * calls after it after it.
   */
  deleteUsers(ids: readonly string[]): void;
  /** Queue a deletion of companies (`DELETE /v1/companies`), ordered like {@link deleteUsers}. */
  deleteCompanies(ids: readonly string[]): void;
  /**
   * Send everything queued (one POST per kind, more only past the batch size) and wait for every
   * send under way, or until `timeoutMs`. Resolves with what this flush sent; never rejects.
   */
  flush(options?: IngestFlushOptions): Promise<IngestFlushResult>;
  /**
   * Flush, wait for every send to be accepted or reported failed (at most `timeoutMs`, default
   * 25,000 ms, after which what is left is reported not sent), and refuse later calls (they go to
   * `onError`). Resolves with the totals of the client's whole life; never rejects.
   */
  close(options?: IngestFlushOptions): Promise<IngestFlushResult>;
  /** `close()`, for `await using client = createIngestClient(…)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** `createIngestClient`, and `createIngestClient.fromEnv`. */
export interface CreateIngestClient {
  (target: IngestTarget, options?: IngestClientOptions): IngestClient;
  /**
   * A client configured from an environment object (a Worker's `env`, Node's `process.env`,
   * Deno's `Deno.env.toObject()`): `USERPILOT_INGEST_URL`, and `USERPILOT_INGEST_SIGNING_SECRET`
   * (preferred when both are set) or `USERPILOT_INGEST_KEY`. Throws a `TypeError` naming every
   * missing setting, never a value.
   */
  fromEnv(env: Readonly<Record<string, string | undefined>>, options?: IngestClientOptions): IngestClient;
}
