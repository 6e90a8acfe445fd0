import { type BulkKind, type ChunkOptions, planChunks } from "./build-requests.ts";
import { type BulkProgress, deliverRows, type SlotRequests } from "./bulk-delivery.ts";
import { BulkLedger } from "./bulk-ledger.ts";
import { Connection, type ConnectionOptions } from "./connection.ts";
import { DEFAULT_SET_ASIDE_AFTER, type DeliveryPolicyConfig } from "./delivery-policy.ts";
import { JobFailedError, type RowIssue, ValidationError } from "./errors.ts";
import type { CompanyInput, UserInput } from "./inputs.ts";
import { DEFAULT_MAX_BODY_BYTES, MAX_ROWS_PER_REQUEST, USERPILOT_ROWS_PER_MINUTE } from "./limits.ts";
import { DEFAULT_POLL_INTERVAL_MS, nextPollDelay, type PollProgress, pollProgress } from "./poll.ts";
import { sleep } from "./retry.ts";
import { type Company, isTerminalStatus, type Job, type User } from "./schemas.ts";
import { resolveMaxIssues } from "./validate-rows.ts";
import { type PlannedWindow, planWindows, type RowSource } from "./windows.ts";

export type { BulkProgress, BulkTotals } from "./bulk-delivery.ts";
export type { FetchFunction } from "./transport.ts";

/** Options of {@link UserpilotClient}: how to reach Userpilot, and how often to poll a job. */
export interface UserpilotClientOptions extends ConnectionOptions {
  /**
   * How often a running job is polled. Default 5,000 ms. When a job's `completed_rows` show it
   * will finish before the next poll, that poll comes just after the projected end instead.
   */
  pollIntervalMs?: number | undefined;
}

/** Options of one bulk call. */
export interface BulkIdentifyOptions extends Omit<ChunkOptions, "kind"> {
  /** Stops the call (between or during requests); the signal's reason is thrown. */
  signal?: AbortSignal | undefined;
  /**
   * Called with each step: a window read (with its rejected rows), a job submitted, polled and
   * completed, retries and waits, rows set aside. Most events carry the running `totals`.
   */
  onProgress?: ((event: BulkProgress) => void) | undefined;
  /** Overrides the client's poll interval for this call. */
  pollIntervalMs?: number | undefined;
  /**
   * Throw `ValidationError` and send nothing if any row is rejected. Default `false`. To keep that
   * promise the whole input is read and planned before anything is sent, so a stream is held in
   * memory (validated) rather than streamed.
   */
  strict?: boolean | undefined;
}

/** What a bulk call resolves to once every job has completed. */
export interface BulkIdentifyResult {
  /** Every completed job, in order. */
  readonly jobs: Job[];
  /**
   * Rows that were not delivered, with where and why (never their values; `index` is the row's
   * position in the input): rows that failed validation (not sent; the first `maxIssues`, 100 by
   * default), then rows Userpilot would not take even alone (set aside).
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

const noop = (): void => {};

async function collect<T>(rows: RowSource<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const row of rows) all.push(row);
  return all;
}

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
  readonly #userpilot: Connection;
  readonly #pollIntervalMs: number;

  constructor(options: UserpilotClientOptions) {
    this.#userpilot = new Connection(options);
    this.baseUrl = this.#userpilot.baseUrl;
    this.#pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
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
   * Identify users in bulk. `rows` may be an array, any iterable, or an async iterable (an async
   * generator, a database cursor, a file read line by line). A stream is read one window of
   * `maxRows` rows at a time: validated, merged by id, sent as a job, and the next window read
   * while that job runs, so memory stays flat whatever the row count and Userpilot's single job
   * slot never waits on reading. Rows merge within their window; windows go in order, so a later
   * row still wins. An array (already in memory) is merged whole first. Resolves once every job
   * has completed.
   *
   * @example
   * ```ts
   * async function* users() {
   *   for await (const record of db.cursor("SELECT id, plan FROM users")) {
   *     yield { user_id: record.id, metadata: { plan: record.plan } };
   *   }
   * }
   * const { jobs, rejected } = await client.bulkIdentifyUsers(users(), {
   *   onProgress: (event) => "totals" in event && console.log(event.type, event.totals),
   * });
   * ```
   */
  bulkIdentifyUsers(
    rows: RowSource<UserInput>,
    options: BulkIdentifyOptions = {},
  ): Promise<BulkIdentifyResult> {
    return this.#bulkIdentify("users", rows, options);
  }

  /**
   * Identify companies in bulk, with the same streaming and guarantees as {@link bulkIdentifyUsers}.
   *
   * @example
   * ```ts
   * await client.bulkIdentifyCompanies([{ company_id: "acme", metadata: { plan: "enterprise" } }]);
   * ```
   */
  bulkIdentifyCompanies(
    rows: RowSource<CompanyInput>,
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
  submitJob(
    kind: BulkKind,
    rows: readonly (User | Company)[],
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<Job> {
    return this.#userpilot.submitJob(kind, rows, { signal: options.signal });
  }

  #getJob(jobId: string, context: CallContext, once = false): Promise<Job> {
    return this.#userpilot.getJob(jobId, {
      signal: context.signal,
      once,
      onRetry: (attempt, delayMs, reason) => context.emit({ type: "retry", attempt, delayMs, reason }),
    });
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
    source: RowSource,
    options: BulkIdentifyOptions,
  ): Promise<BulkIdentifyResult> {
    const ledger = new BulkLedger(resolveMaxIssues(options.maxIssues));
    const planning = { ...options, kind };
    let windows: AsyncIterator<PlannedWindow>;
    if (options.strict) {
      // Nothing may be sent unless every row is good: the whole input is read and planned first.
      const rows = Array.isArray(source) ? source : await collect(source);
      const plan = planChunks(rows, planning);
      if (plan.issueCount > 0) {
        throw new ValidationError(`${plan.issueCount} row issue(s); nothing was sent`, plan.rejected);
      }
      windows = (async function* () {
        yield { start: 0, rows: rows.length, ...plan };
      })();
    } else {
      // A stream's windows list every issue (the caller may report each one as it goes); the
      // result keeps the first `maxIssues`. An array is one window, bounded like the result.
      windows = planWindows(
        source,
        Array.isArray(source) ? planning : { ...planning, maxIssues: Number.POSITIVE_INFINITY },
      );
    }
    const context: CallContext = { signal: options.signal, emit: options.onProgress ?? noop };
    const requests: SlotRequests = {
      submit: (kind, body, signal) =>
        this.#userpilot.job("POST", `/v1/${kind}/bulk_identify`, { body, signal, once: true }),
      poll: (jobId) => this.#getJob(jobId, context, true),
    };
    return await deliverRows(kind, windows, ledger, requests, {
      config: this.#policy(options),
      maxBytes: options.maxBytes ?? DEFAULT_MAX_BODY_BYTES,
      random: this.#userpilot.random,
      signal: options.signal,
      emit: context.emit,
    });
  }

  /** The delivery policy's settings for one bulk call, from the retry policy's budgets. */
  #policy(options: BulkIdentifyOptions): DeliveryPolicyConfig {
    const retry = this.#userpilot.retry;
    return {
      maxRows: options.maxRows ?? MAX_ROWS_PER_REQUEST,
      pollIntervalMs: options.pollIntervalMs ?? this.#pollIntervalMs,
      rowsPerMinute: USERPILOT_ROWS_PER_MINUTE,
      baseDelayMs: retry.baseDelayMs,
      maxDelayMs: retry.maxDelayMs,
      setAsideAfter: DEFAULT_SET_ASIDE_AFTER,
      giveUp: {
        requests: retry.maxAttempts,
        jobs: retry.jobAttempts,
        conflictMs: retry.conflictTimeoutMs,
        // A 401 or 403 will not change by itself: report it at once.
        unexpected: 1,
      },
    };
  }
}
