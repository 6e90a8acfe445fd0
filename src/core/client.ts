import * as v from "valibot";
import { normalizeBaseUrl } from "./base-url.ts";
import { type BulkKind, type Chunk, type ChunkOptions, planChunks } from "./build-requests.ts";
import {
  HTTPError,
  JobFailedError,
  RateLimitError,
  type RowIssue,
  UserpilotError,
  ValidationError,
} from "./errors.ts";
import { assertApiKey, bulkHeaders } from "./request-headers.ts";
import { nextPollDelay, type PollProgress, pollProgress } from "./poll.ts";
import { backoffDelay, resolveRetryPolicy, type RetryOptions, type RetryPolicy, sleep } from "./retry.ts";
import { type Company, isTerminalStatus, type Job, JobSchema, type User } from "./schemas.ts";
import { type Answer, type FetchFunction, send, type Transport } from "./transport.ts";

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

/** What a bulk call reports while it works. */
export type BulkProgress =
  | { type: "planned"; chunks: number; rows: number; rejected: number }
  | { type: "submitted"; chunk: number; chunks: number; rows: number; job: Job }
  | { type: "job"; chunk: number; chunks: number; job: Job }
  | { type: "chunk-completed"; chunk: number; chunks: number; job: Job; rowsDone: number; rowsTotal: number }
  | { type: "retry"; attempt: number; delayMs: number; reason: string }
  | { type: "waiting"; reason: "conflict"; jobId?: string | undefined };

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

/** What a bulk call resolves to once every chunk's job has completed. */
export interface BulkIdentifyResult {
  /** One completed job per body sent, in order. */
  readonly jobs: Job[];
  /** Rows that were not sent, with where and why (never their values). */
  readonly rejected: RowIssue[];
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

const TOO_LARGE = Symbol("413");
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_POLL_INTERVAL_MS = 5_000;
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

  async #getJob(jobId: string, context: CallContext): Promise<Job> {
    const path = `/v1/background_jobs/${encodeURIComponent(jobId)}`;
    const answer = await this.#send("GET", path, undefined, context);
    if (!answer.response.ok) throw this.#httpError("GET", path, answer);
    return this.#parseJob("GET", path, answer);
  }

  /** Poll until terminal; with `until`, stop following (resolve `undefined`) once that time has passed. */
  async #waitForJob(jobId: string, context: CallContext, options: WaitForJobOptions): Promise<Job>;
  async #waitForJob(
    jobId: string,
    context: CallContext,
    options: WaitForJobOptions,
    until: number,
  ): Promise<Job | undefined>;
  async #waitForJob(
    jobId: string,
    context: CallContext,
    options: WaitForJobOptions,
    until = Number.POSITIVE_INFINITY,
  ): Promise<Job | undefined> {
    const interval = options.pollIntervalMs ?? this.#pollIntervalMs;
    let previous: PollProgress | undefined;
    for (;;) {
      const job = await this.#getJob(jobId, context);
      const polledAt = Date.now();
      options.onProgress?.(job);
      if (job.status === "failed") throw new JobFailedError(job);
      if (isTerminalStatus(job.status)) return job;
      if (polledAt >= until) return undefined;
      await sleep(nextPollDelay(interval, job, polledAt, previous), context.signal);
      previous = pollProgress(job, polledAt);
    }
  }

  async #bulkIdentify(
    kind: BulkKind,
    rows: Iterable<unknown>,
    options: BulkIdentifyOptions,
  ): Promise<BulkIdentifyResult> {
    const { chunks, rejected } = planChunks(rows, { ...options, kind });
    if (options.strict && rejected.length > 0) {
      throw new ValidationError(`${rejected.length} row issue(s); nothing was sent`, rejected);
    }
    const emit = options.onProgress ?? noop;
    const context: CallContext = { signal: options.signal, emit };
    const rowsTotal = chunks.reduce((sum, chunk) => sum + chunk.rows.length, 0);
    emit({ type: "planned", chunks: chunks.length, rows: rowsTotal, rejected: rejected.length });
    const jobs: Job[] = [];
    let rowsDone = 0;
    try {
      for (const [index, chunk] of chunks.entries()) {
        const chunkNumber = index + 1;
        const poll = {
          pollIntervalMs: options.pollIntervalMs,
          onSubmitted: (job: Job, rowCount: number) =>
            emit({ type: "submitted", chunk: chunkNumber, chunks: chunks.length, rows: rowCount, job }),
          onPoll: (job: Job) => emit({ type: "job", chunk: chunkNumber, chunks: chunks.length, job }),
        };
        for (const job of await this.#deliver(kind, chunk, context, poll)) {
          jobs.push(job);
        }
        rowsDone += chunk.rows.length;
        emit({
          type: "chunk-completed",
          chunk: chunkNumber,
          chunks: chunks.length,
          job: jobs.at(-1) as Job,
          rowsDone,
          rowsTotal,
        });
      }
    } catch (error) {
      if (error instanceof UserpilotError) error.completedJobs = jobs;
      throw error;
    }
    return { jobs, rejected };
  }

  /** Send one chunk and wait for its job; resend a failed job; split on 413. */
  async #deliver(
    kind: BulkKind,
    chunk: Pick<Chunk, "rows" | "body">,
    context: CallContext,
    poll: {
      pollIntervalMs: number | undefined;
      onSubmitted: (job: Job, rows: number) => void;
      onPoll: (job: Job) => void;
    },
  ): Promise<Job[]> {
    for (let run = 1;; run++) {
      const submitted = await this.#submit(kind, chunk.body, context);
      if (submitted === TOO_LARGE) {
        if (chunk.rows.length === 1) {
          throw new UserpilotError(
            `Userpilot answered 413 to a single row of ${kind}; it cannot be split further`,
          );
        }
        const half = Math.ceil(chunk.rows.length / 2);
        const parts = [chunk.rows.slice(0, half), chunk.rows.slice(half)].map((rows) => ({
          rows,
          body: `{"${kind}":${JSON.stringify(rows)}}`,
        }));
        const jobs: Job[] = [];
        for (const part of parts) jobs.push(...(await this.#deliver(kind, part, context, poll)));
        return jobs;
      }
      poll.onSubmitted(submitted, chunk.rows.length);
      try {
        return [
          await this.#waitForJob(submitted.job_id, context, {
            pollIntervalMs: poll.pollIntervalMs,
            onProgress: poll.onPoll,
          }),
        ];
      } catch (error) {
        if (!(error instanceof JobFailedError) || run >= this.#retry.jobAttempts) throw error;
        const delayMs = backoffDelay(run, this.#retry, this.#random);
        context.emit({ type: "retry", attempt: run, delayMs, reason: `job ${error.job.job_id} failed` });
        await sleep(delayMs, context.signal);
      }
    }
  }

  /** POST one body; wait out 409s; return the job, or `TOO_LARGE` on 413. */
  async #submit(kind: BulkKind, body: string, context: CallContext): Promise<Job | typeof TOO_LARGE> {
    const path = `/v1/${kind}/bulk_identify`;
    const deadline = Date.now() + this.#retry.conflictTimeoutMs;
    for (let conflicts = 1;; conflicts++) {
      const answer = await this.#send("POST", path, body, context);
      const { status } = answer.response;
      if (answer.response.ok) return this.#parseJob("POST", path, answer);
      if (status === 413) return TOO_LARGE;
      if (status !== 409 || Date.now() >= deadline) throw this.#httpError("POST", path, answer);
      await this.#waitForRunningJobs(conflicts, context, deadline);
    }
  }

  /**
   * Another bulk job holds Userpilot's single job slot: follow the jobs that are still running
   * (ours from a lost response, or someone else's), or back off if none can be seen.
   */
  async #waitForRunningJobs(conflicts: number, context: CallContext, deadline: number): Promise<void> {
    let running: Job[] = [];
    try {
      const answer = await this.#send("GET", "/v1/background_jobs", undefined, context);
      if (answer.response.ok) {
        running = listedJobs(answer.text).filter((job) => !isTerminalStatus(job.status));
      }
    } catch (error) {
      if (context.signal?.aborted) throw error;
      // The list is a convenience: without it, back off and try again.
    }
    for (const job of running) {
      context.emit({ type: "waiting", reason: "conflict", jobId: job.job_id });
      try {
        await this.#waitForJob(job.job_id, context, {}, deadline);
      } catch (error) {
        // Its end is all that matters: failed, or gone from Userpilot's list.
        if (!(error instanceof JobFailedError || (error instanceof HTTPError && error.status === 404))) {
          throw error;
        }
      }
    }
    if (running.length === 0) {
      context.emit({ type: "waiting", reason: "conflict" });
      await sleep(
        Math.max(this.#pollIntervalMs, backoffDelay(conflicts, this.#retry, this.#random)),
        context.signal,
      );
    }
  }

  /** One request to Userpilot under the retry policy. */
  #send(method: string, path: string, body: string | undefined, context: CallContext): Promise<Answer> {
    const url = `${this.baseUrl}${path}`;
    const headers = bulkHeaders(this.#apiKey);
    if (body === undefined) delete headers["Content-Type"];
    return send(this.#transport, {
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

/** Jobs from `GET /v1/background_jobs`, whose shape is undocumented: an array, or one inside an object. */
function listedJobs(text: string): Job[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const list = Array.isArray(parsed)
    ? parsed
    : parsed !== null && typeof parsed === "object"
    ? (Object.values(parsed).find(Array.isArray) ?? [])
    : [];
  return list.flatMap((item: unknown) => {
    const result = v.safeParse(JobSchema, item);
    return result.success ? [result.output] : [];
  });
}
