import type { Job } from "./schemas.ts";

/** One rejected row: where it was and why, never its value. */
export interface RowIssue {
  /** Position of the row in the input (0-based). */
  readonly index: number;
  /** Dotted path inside the row, such as `metadata.plan`; empty for the row itself. */
  readonly path: string;
  /** What is wrong, without the offending value. */
  readonly message: string;
}

/** One entry of Userpilot's documented error body `{"errors": [...]}`. */
export interface UserpilotErrorDetail {
  readonly details?: unknown;
  readonly error?: unknown;
  readonly error_code?: unknown;
  readonly message?: unknown;
}

const MAX_BODY_CHARS = 1000;

/**
 * The base of every error this package throws. `cause` carries the underlying error, if any.
 *
 * @example
 * ```ts
 * try { await client.bulkIdentifyUsers(rows); }
 * catch (error) { if (error instanceof UserpilotError) console.error(error.message); }
 * ```
 */
export class UserpilotError extends Error {
  override name = "UserpilotError";
  /** Jobs that had completed before a bulk call failed, so a caller knows what was delivered. */
  completedJobs: Job[] = [];
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Fields of an HTTP failure. */
export interface HTTPErrorInit {
  readonly status: number;
  readonly method: string;
  readonly url: string;
  /** The response body as text; it is truncated to 1,000 characters. */
  readonly body: string;
  readonly cause?: unknown;
}

function parseErrors(body: string): UserpilotErrorDetail[] {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === "object" && "errors" in parsed) {
      const errors = (parsed as { errors: unknown }).errors;
      if (Array.isArray(errors)) {
        return errors.filter((e): e is UserpilotErrorDetail => e !== null && typeof e === "object");
      }
    }
  } catch {
    // Not JSON: the truncated text is all there is.
  }
  return [];
}

function describeStatus(init: HTTPErrorInit, errors: UserpilotErrorDetail[]): string {
  const first = errors[0];
  const detail = typeof first?.message === "string" ? `: ${first.message}` : "";
  const hint = init.status === 401
    ? " (check that the key is the server-side API key from Environment settings, not the NX- app token)"
    : "";
  return `${init.method} ${init.url} answered ${init.status}${detail}${hint}`;
}

/**
 * Userpilot answered with a status the client does not retry (or retried until it gave up).
 * `errors` holds Userpilot's parsed `{"errors": [...]}` body when there was one.
 */
export class HTTPError extends UserpilotError {
  override name = "HTTPError";
  readonly status: number;
  readonly method: string;
  readonly url: string;
  /** The response body, truncated to 1,000 characters. */
  readonly body: string;
  readonly errors: readonly UserpilotErrorDetail[];
  constructor(init: HTTPErrorInit) {
    const body = init.body.length > MAX_BODY_CHARS ? `${init.body.slice(0, MAX_BODY_CHARS)}…` : init.body;
    const errors = parseErrors(init.body);
    super(describeStatus(init, errors), { cause: init.cause });
    this.status = init.status;
    this.method = init.method;
    this.url = init.url;
    this.body = body;
    this.errors = errors;
  }
}

/** Userpilot answered 429 and kept doing so until the retry policy gave up. */
export class RateLimitError extends HTTPError {
  override name = "RateLimitError";
  /** What the last `Retry-After` asked for, in milliseconds, if it was sent. */
  readonly retryAfterMs: number | undefined;
  constructor(init: HTTPErrorInit & { retryAfterMs?: number | undefined }) {
    super(init);
    this.retryAfterMs = init.retryAfterMs;
  }
}

/** One attempt took longer than `timeoutMs`, and retries were exhausted. */
export class TimeoutError extends UserpilotError {
  override name = "TimeoutError";
  readonly timeoutMs: number;
  constructor(message: string, timeoutMs: number, options?: { cause?: unknown }) {
    super(message, options);
    this.timeoutMs = timeoutMs;
  }
}

/** The request never got an HTTP answer (DNS, refused or dropped connection, broken body). */
export class NetworkError extends UserpilotError {
  override name = "NetworkError";
}

/** A background job ended with status `failed`. */
export class JobFailedError extends UserpilotError {
  override name = "JobFailedError";
  readonly job: Job;
  constructor(job: Job, options?: { cause?: unknown }) {
    super(`Userpilot job ${job.job_id} failed`, options);
    this.job = job;
  }
}

/** Input was rejected before anything was sent. `issues` lists each problem without values. */
export class ValidationError extends UserpilotError {
  override name = "ValidationError";
  readonly issues: readonly RowIssue[];
  constructor(message: string, issues: readonly RowIssue[]) {
    super(message);
    this.issues = issues;
  }
}
