import * as v from "valibot";
import { normalizeBaseUrl } from "./base-url.ts";
import { HTTPError, RateLimitError, UserpilotError } from "./errors.ts";
import { assertApiKey, bulkHeaders } from "./request-headers.ts";
import { resolveRetryPolicy, type RetryOptions, type RetryPolicy } from "./retry.ts";
import type { BulkKind } from "./build-requests.ts";
import { type Company, type Job, JobSchema, type User } from "./schemas.ts";
import { type Answer, type FetchFunction, send, type Transport } from "./transport.ts";

/** How to reach Userpilot: the key, the host, the fetch, the timeout and the retry policy. */
export interface ConnectionOptions {
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
  /** Source of jitter in [0, 1). Default `Math.random`. */
  random?: (() => number) | undefined;
}

/** One request: its body, the caller's signal, and how it goes. */
export interface ConnectionRequest {
  readonly body?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  /** One attempt only (the caller's own policy retries). Default: the retry policy's attempts. */
  readonly once?: boolean | undefined;
  /** The headers for the key (default: the bulk endpoints'). */
  readonly headers?: ((apiKey: string) => Record<string, string>) | undefined;
  /** Told before each retry's wait. */
  readonly onRetry?: ((attempt: number, delayMs: number, reason: string) => void) | undefined;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The plumbing the clients share: the checked key (never in a message), the normalised base URL,
 * and one request under the retry policy, with Userpilot's errors typed.
 */
export class Connection {
  /** The normalised base URL every path is appended to. */
  readonly baseUrl: string;
  readonly retry: RetryPolicy;
  readonly random: () => number;
  readonly #apiKey: string;
  readonly #transport: Transport;
  readonly #once: Transport;

  constructor(options: ConnectionOptions) {
    assertApiKey(options.apiKey);
    this.#apiKey = options.apiKey;
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
    this.retry = resolveRetryPolicy(options.retry);
    this.random = options.random ?? Math.random;
    this.#transport = {
      fetch: options.fetch ?? ((request) => fetch(request)),
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      retry: this.retry,
      random: this.random,
    };
    this.#once = { ...this.#transport, retry: { ...this.retry, maxAttempts: 1 } };
  }

  /** One request; a retryable status that outlasts the policy, or any other error status, throws. */
  async request(method: string, path: string, options: ConnectionRequest = {}): Promise<Answer> {
    const url = `${this.baseUrl}${path}`;
    const headers = (options.headers ?? bulkHeaders)(this.#apiKey);
    if (options.body === undefined) delete headers["Content-Type"];
    const answer = await send(options.once ? this.#once : this.#transport, {
      method,
      url,
      request: (signal) => new Request(url, { method, headers, body: options.body ?? null, signal }),
      failure: (answer, retryAfterMs) => this.#httpError(method, path, answer, retryAfterMs),
      signal: options.signal,
      onRetry: options.onRetry,
    });
    if (!answer.response.ok) throw this.#httpError(method, path, answer);
    return answer;
  }

  /** A request whose answer is a job (a bulk submission, or a poll). */
  async job(method: string, path: string, options: ConnectionRequest = {}): Promise<Job> {
    const answer = await this.request(method, path, options);
    const where = `${method} ${this.baseUrl}${path} answered ${answer.response.status}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.text);
    } catch (cause) {
      throw new UserpilotError(`${where} without a JSON job`, { cause });
    }
    const result = v.safeParse(JobSchema, parsed);
    if (!result.success) throw new UserpilotError(`${where} with a job that has no job_id or status`);
    return result.output;
  }

  /** `POST /v1/{kind}/bulk_identify` with these rows, as they are: the job it started. */
  submitJob(
    kind: BulkKind,
    rows: readonly (User | Company)[],
    options: ConnectionRequest = {},
  ): Promise<Job> {
    return this.job("POST", `/v1/${kind}/bulk_identify`, {
      ...options,
      body: JSON.stringify({ [kind]: rows }),
    });
  }

  /** `GET /v1/background_jobs/{id}`: the job as Userpilot shows it now. */
  getJob(jobId: string, options: ConnectionRequest = {}): Promise<Job> {
    return this.job("GET", `/v1/background_jobs/${encodeURIComponent(jobId)}`, options);
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
