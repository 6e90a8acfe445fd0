import * as v from "valibot";
import { normalizeBaseUrl } from "./base-url.ts";
import { type BulkKind, type ChunkOptions, planChunks } from "./build-requests.ts";
import { type BulkProgress, deliverChunks, type SlotRequests } from "./bulk-delivery.ts";
import { DEFAULT_SET_ASIDE_AFTER, type DeliveryPolicyConfig } from "./delivery-policy.ts";
import {
  HTTPError,
  JobFailedError,
  RateLimitError,
  type RowIssue,
  UserpilotError,
  ValidationError,
} from "./errors.ts";
import { DEFAULT_MAX_BODY_BYTES, MAX_ROWS_PER_REQUEST, USERPILOT_ROWS_PER_MINUTE } from "./limits.ts";
import { type TrackEvent, TrackEventSchema } from "./event-schema.ts";
import { assertApiKey, bulkHeaders, realtimeHeaders } from "./request-headers.ts";
import { DEFAULT_POLL_INTERVAL_MS, nextPollDelay, type PollProgress, pollProgress } from "./poll.ts";
import { resolveRetryPolicy, type RetryOptions, type RetryPolicy, sleep } from "./retry.ts";
import { type Company, isTerminalStatus, type Job, JobSchema, type User } from "./schemas.ts";
import { type Answer, type FetchFunction, send, type Transport } from "./transport.ts";

export type { BulkProgress } from "./bulk-delivery.ts";
export type { FetchFunction } from "./transport.ts";

/** Options of {@link UserpilotClient}. */
export interface UserpilotClientOptions {
  /** Userpilot's server-side API key (Environment settings), not the `NX-…` app token. */
  apiKey: string;
  /** `"us"` (default), `"eu"`, or a URL: an enterprise host, or the local sandbox. */
  baseUrl?: string | undefined;
  /** Defaults to the global `fetch`. */
  fetch?: FetchFunction | undefined;
  /** Longest wait for one HTTP attempt, body included. Default 30,000 ms. */
  timeoutMs?: number | undefined;
  /** Retry policy (see `RetryPolicy`); `false` for a single attempt of everything. */
  retry?: RetryOptions | false | undefined;
  /**
   * How often a running job is polled. Default 5,000 ms. When a job's `completed_rows` show it
   * will finish before the next poll, that poll comes just after the projected end instead.
   */
  pollIntervalMs?: number | undefined;
  /** Source of jitter in [0, 1). Default `Math.random`. */
  random?: (() => number) | undefined;
}

/** Options of one bulk call. */
export interface BulkIdentifyOptions extends Omit<ChunkOptions, "kind"> {
  /** Stops the call (between or during requests); the signal's reason is thrown. */
  signal?: AbortSignal | undefined;
  /** Called with each step: chunks planned and submitted, job polls, retries, waits. */
  onProgress?: ((event: BulkProgress) => void) | undefined;
  /** Overrides the client's poll interval for this call. */
  pollIntervalMs?: number | undefined;
  /** Throw `ValidationError` and send nothing if any row is rejected. Default `false`. */
  strict?: boolean | undefined;
}

/** What a bulk call resolves to once every job has completed. */
export interface BulkIdentifyResult {
  /** Every completed job, in order. */
  readonly jobs: Job[];
  /**
   * Rows that were not delivered, with where and why (never their values): rows that failed
   * validation (not sent; the first `maxIssues`, 100 by default), then rows Userpilot would not
   * take even alone (set aside).
   */
  readonly rejected: RowIssue[];
  /** How many issues there were in all (`rejected` may hold only the first of them). */
  readonly issueCount: number;
}

/** Options of {@link UserpilotClient.waitForJob}. */
export interface WaitForJobOptions {
  pollIntervalMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Called with the job after every poll. */
  onProgress?: ((job: Job) => void) | undefined;
}

interface CallContext {
  readonly signal: AbortSignal | undefined;
  readonly emit: (event: BulkProgress) => void;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const noop = (): void => {};

/**
 * A Userpilot bulk-identify client that uses only `fetch` and runs anywhere JavaScript does.
 * Bulk calls validate and merge rows, send one job at a time (at most 10,000 rows each), follow
 * every job to completion, and retry what is safe to retry.
 *
 * @example
 * ```ts
 * const client = new UserpilotClient({ apiKey: env.USERPILOT_API_KEY, baseUrl: "eu" });
 * const { jobs, rejected } = await client.bulkIdentifyUsers([
 *   { user_id: "user_123", company_id: "acme", metadata: { plan: "pro" } },
 * ]);
 * ```
 */
export class UserpilotClient {
  /** The normalised base URL every path is appended to. */
  readonly baseUrl: string;
  readonly #apiKey: string;
  readonly #transport: Transport;
  /** The same transport making one attempt: in bulk calls every retry is the delivery policy's. */
  readonly #once: Transport;
  readonly #retry: RetryPolicy;
  readonly #pollIntervalMs: number;
  readonly #random: () => number;

  constructor(options: UserpilotClientOptions) {
    assertApiKey(options.apiKey);
    this.#apiKey = options.apiKey;
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
    this.#retry = resolveRetryPolicy(options.retry);
    this.#pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#random = options.random ?? Math.random;
    this.#transport = {
      fetch: options.fetch ?? ((request) => fetch(request)),
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      retry: this.#retry,
      random: this.#random,
    };
    this.#once = { ...this.#transport, retry: { ...this.#retry, maxAttempts: 1 } };
  }

  /**
   * A client configured from an environment object (a Worker's `env`, Node's environment, Deno's
   * `env.toObject()`): `USERPILOT_API_KEY` is required, `USERPILOT_BASE_URL` optional.
   *
   * @example
   * ```ts
   * export default { fetch: (request, env) => UserpilotClient.fromEnv(env).getJob("…") };
   * ```
   */
  static fromEnv(
    env: Readonly<Record<string, string | undefined>>,
    options: Omit<UserpilotClientOptions, "apiKey" | "baseUrl"> = {},
  ): UserpilotClient {
    const missing = ["USERPILOT_API_KEY"].filter((key) => !env[key]);
    if (missing.length > 0) {
      throw new TypeError(
        `Missing environment variable${missing.length > 1 ? "s" : ""}: ${missing.join(", ")}`,
      );
    }
    return new UserpilotClient({
      ...options,
      apiKey: env["USERPILOT_API_KEY"] as string,
      baseUrl: env["USERPILOT_BASE_URL"] || undefined,
    });
  }

  /**
   * Identify users in bulk: validate, merge repeated ids, send each chunk as one job, and wait
   * for every job to complete before the next (Userpilot runs one job at a time).
   *
   * @example
   * ```ts
   * const { jobs, rejected } = await client.bulkIdentifyUsers(rows, {
   *   onProgress: (event) => console.log(event.type),
   * });
   * ```
   */
  bulkIdentifyUsers(rows: Iterable<unknown>, options: BulkIdentifyOptions = {}): Promise<BulkIdentifyResult> {
    return this.#bulkIdentify("users", rows, options);
  }

  /**
   * Identify companies in bulk, with the same guarantees as {@link bulkIdentifyUsers}.
   *
   * @example
   * ```ts
   * await client.bulkIdentifyCompanies([{ company_id: "acme", metadata: { plan: "enterprise" } }]);
   * ```
   */
  bulkIdentifyCompanies(
    rows: Iterable<unknown>,
    options: BulkIdentifyOptions = {},
  ): Promise<BulkIdentifyResult> {
    return this.#bulkIdentify("companies", rows, options);
  }

  /**
   * Read a background job once.
   *
   * @example
   * ```ts
   * const job = await client.getJob(jobId);
   * console.log(job.status, job["completed_rows"]);
   * ```
   */
  getJob(jobId: string, options: { signal?: AbortSignal | undefined } = {}): Promise<Job> {
    return this.#getJob(jobId, { signal: options.signal, emit: noop });
  }

  /**
   * Poll a job until it is `completed` (resolves with it) or `failed` (throws `JobFailedError`).
   *
   * @example
   * ```ts
   * const job = await client.waitForJob(jobId, { onProgress: (job) => console.log(job.status) });
   * ```
   */
  waitForJob(jobId: string, options: WaitForJobOptions = {}): Promise<Job> {
    return this.#waitForJob(jobId, { signal: options.signal, emit: noop }, options);
  }

  /**
   * Submit rows as one job and return it without waiting for it: one POST under the retry policy
   * (network errors, timeouts, 408, 429, 5xx). A 409 or 413 is thrown as `HTTPError`, for callers
   * that schedule their own waits, such as a Durable Object's alarm. The rows are sent as given:
   * validate them first (`validateRows`), since Userpilot reports no per-row errors.
   *
   * @example
   * ```ts
   * const job = await client.submitJob("users", [{ user_id: "user_123" }]);
   * // later: await client.getJob(job.job_id)
   * ```
   */
  async submitJob(
    kind: BulkKind,
    rows: readonly (User | Company)[],
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<Job> {
    const path = `/v1/${kind}/bulk_identify`;
    const context: CallContext = { signal: options.signal, emit: noop };
    const answer = await this.#send("POST", path, JSON.stringify({ [kind]: rows }), context);
    if (!answer.response.ok) throw this.#httpError("POST", path, answer);
    return this.#parseJob("POST", path, answer);
  }

  /**
   * Send one event to Userpilot's real-time `POST /v1/track` (with `X-API-Version`), under the
   * retry policy. Userpilot ignores events of users it does not know yet: identify them first.
   * Real-time calls share Userpilot's limit of 600 a minute per key (429 past it, retried).
   *
   * @example
   * ```ts
   * await client.track({ user_id: "user_123", event_name: "invoice_paid", metadata: { amount: 30 } });
   * ```
   */
  async track(event: TrackEvent, options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    const result = v.safeParse(TrackEventSchema, event);
    if (!result.success) {
      const issues = result.issues.slice(0, 100).map((issue) => ({
        index: 0,
        path: v.getDotPath(issue) ?? "",
        message: issue.message,
      }));
      throw new ValidationError("the event is invalid; nothing was sent", issues);
    }
    await this.#realtime("POST", "/v1/track", JSON.stringify(result.output), options.signal);
  }

  /**
   * Ask Userpilot to delete users (`DELETE /v1/users`, the right to be forgotten). Userpilot
   * schedules them for its daily deletion job and takes one delete request every 2 seconds.
   *
   * @example
   * ```ts
   * await client.deleteUsers(["user_123"]);
   * ```
   */
  deleteUsers(ids: readonly string[], options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    return this.#realtime("DELETE", "/v1/users", JSON.stringify({ users: ids }), options.signal);
  }

  /**
   * Ask Userpilot to delete companies (`DELETE /v1/companies`), like {@link deleteUsers}.
   *
   * @example
   * ```ts
   * await client.deleteCompanies(["acme"]);
   * ```
   */
  deleteCompanies(ids: readonly string[], options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    return this.#realtime("DELETE", "/v1/companies", JSON.stringify({ companies: ids }), options.signal);
  }

  async #realtime(
    method: string,
    path: string,
    body: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const answer = await this.#send(
      method,
      path,
      body,
      { signal, emit: noop },
      this.#transport,
      realtimeHeaders,
    );
    if (!answer.response.ok) throw this.#httpError(method, path, answer);
  }

  async #getJob(jobId: string, context: CallContext, transport = this.#transport): Promise<Job> {
    const path = `/v1/background_jobs/${encodeURIComponent(jobId)}`;
    const answer = await this.#send("GET", path, undefined, context, transport);
    if (!answer.response.ok) throw this.#httpError("GET", path, answer);
    return this.#parseJob("GET", path, answer);
  }

  async #waitForJob(jobId: string, context: CallContext, options: WaitForJobOptions): Promise<Job> {
    const interval = options.pollIntervalMs ?? this.#pollIntervalMs;
    let previous: PollProgress | undefined;
    for (;;) {
      const job = await this.#getJob(jobId, context);
      const polledAt = Date.now();
      options.onProgress?.(job);
      if (job.status === "failed") throw new JobFailedError(job);
      if (isTerminalStatus(job.status)) return job;
      await sleep(nextPollDelay(interval, job, polledAt, previous), context.signal);
      previous = pollProgress(job, polledAt);
    }
  }

  async #bulkIdentify(
    kind: BulkKind,
    rows: Iterable<unknown>,
    options: BulkIdentifyOptions,
  ): Promise<BulkIdentifyResult> {
    const { chunks, rejected, issueCount } = planChunks(rows, { ...options, kind });
    if (options.strict && issueCount > 0) {
      throw new ValidationError(`${issueCount} row issue(s); nothing was sent`, rejected);
    }
    const emit = options.onProgress ?? noop;
    const rowsTotal = chunks.reduce((sum, chunk) => sum + chunk.rows.length, 0);
    emit({ type: "planned", chunks: chunks.length, rows: rowsTotal, rejected: issueCount });
    const context: CallContext = { signal: options.signal, emit };
    const requests: SlotRequests = {
      submit: async (kind, body) => {
        const path = `/v1/${kind}/bulk_identify`;
        const answer = await this.#send("POST", path, body, context, this.#once);
        if (!answer.response.ok) throw this.#httpError("POST", path, answer);
        return this.#parseJob("POST", path, answer);
      },
      poll: (jobId) => this.#getJob(jobId, context, this.#once),
    };
    const { jobs, setAside } = await deliverChunks(kind, chunks, requests, {
      config: this.#policy(options),
      maxBytes: options.maxBytes ?? DEFAULT_MAX_BODY_BYTES,
      random: this.#random,
      signal: options.signal,
      emit,
    });
    return { jobs, rejected: [...rejected, ...setAside], issueCount: issueCount + setAside.length };
  }

  /** The delivery policy's settings for one bulk call, from the retry policy's budgets. */
  #policy(options: BulkIdentifyOptions): DeliveryPolicyConfig {
    return {
      maxRows: options.maxRows ?? MAX_ROWS_PER_REQUEST,
      pollIntervalMs: options.pollIntervalMs ?? this.#pollIntervalMs,
      rowsPerMinute: USERPILOT_ROWS_PER_MINUTE,
      baseDelayMs: this.#retry.baseDelayMs,
      maxDelayMs: this.#retry.maxDelayMs,
      setAsideAfter: DEFAULT_SET_ASIDE_AFTER,
      giveUp: {
        requests: this.#retry.maxAttempts,
        jobs: this.#retry.jobAttempts,
        conflictMs: this.#retry.conflictTimeoutMs,
        // A 401 or 403 will not change by itself: report it at once.
        unexpected: 1,
      },
    };
  }

  /** One request to Userpilot under the retry policy. */
  #send(
    method: string,
    path: string,
    body: string | undefined,
    context: CallContext,
    transport = this.#transport,
    headersFor: (apiKey: string) => Record<string, string> = bulkHeaders,
  ): Promise<Answer> {
    const url = `${this.baseUrl}${path}`;
    const headers = headersFor(this.#apiKey);
    if (body === undefined) delete headers["Content-Type"];
    return send(transport, {
      method,
      url,
      request: (signal) => new Request(url, { method, headers, body: body ?? null, signal }),
      failure: (answer, retryAfterMs) => this.#httpError(method, path, answer, retryAfterMs),
      signal: context.signal,
      onRetry: (attempt, delayMs, reason) => context.emit({ type: "retry", attempt, delayMs, reason }),
    });
  }

  #parseJob(method: string, path: string, answer: Answer): Job {
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.text);
    } catch (cause) {
      throw new UserpilotError(
        `${method} ${this.baseUrl}${path} answered ${answer.response.status} without a JSON job`,
        { cause },
      );
    }
    const result = v.safeParse(JobSchema, parsed);
    if (!result.success) {
      throw new UserpilotError(
        `${method} ${this.baseUrl}${path} answered ${answer.response.status} with a job that has no job_id or status`,
      );
    }
    return result.output;
  }

  #httpError(method: string, path: string, answer: Answer, retryAfterMs?: number): HTTPError {
    const init = {
      status: answer.response.status,
      method,
      url: `${this.baseUrl}${path}`,
      // A server could echo the key back; it must not reach a message or a log.
      body: answer.text.replaceAll(this.#apiKey, "[redacted]"),
    };
    return init.status === 429 ? new RateLimitError({ ...init, retryAfterMs }) : new HTTPError(init);
  }
}
