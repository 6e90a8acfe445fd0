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

/** The path of a request URL (the whole URL if it does not parse). */
function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

/**
 * An HTTP failure as it may be shown: the method, path, status and Userpilot's error code. Never
 * Userpilot's message, which may quote a submitted value (it stays in `HTTPError.errors`).
 */
function httpFailureText(init: HTTPErrorInit, errors: readonly UserpilotErrorDetail[]): string {
  const code = errors.find((e) => typeof e.error_code === "string")?.error_code as string | undefined;
  const hint = init.status === 401
    ? " (check that the key is the server-side API key from Environment settings, not the NX- app token)"
    : "";
  const named = code === undefined ? "" : ` (${code.slice(0, 64)})`;
  return `${init.method} ${pathOf(init.url)} answered ${init.status}${named}${hint}`;
}

/** Most characters of a failure's text that are shown. */
const MAX_SHOWN_CHARS = 300;

/**
 * What of a failure may be shown, wherever it is shown (logs, the endpoint's `lastError` and
 * set-aside reasons, the operator's page, the CLI): the one place that decides. This package's
 * errors are written to be shown: an `HTTPError` names the method, path, status and Userpilot's
 * error code, never Userpilot's message (it may quote a submitted value) nor the API key; a
 * `ValidationError` names paths, not values. Any other error is shown by its name and a bounded
 * message, except a `SyntaxError`, whose message can quote the text it failed to parse.
 *
 * @example
 * ```ts
 * describeFailure(error); // "POST /v1/users/bulk_identify answered 400 (invalid_row)"
 * ```
 */
export function describeFailure(error: unknown): string {
  if (error instanceof UserpilotError) return error.message;
  if (error instanceof SyntaxError) return "SyntaxError (text that is not valid JSON)";
  const text = !(error instanceof Error)
    ? `thrown: ${typeof error}`
    : error.name === "Error"
    ? error.message
    : `${error.name}: ${error.message}`;
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
}

/**
 * Userpilot answered with a status the client does not retry (or retried until it gave up).
 * `errors` holds Userpilot's parsed `{"errors": [...]}` body when there was one. The message
 * leaves Userpilot's own text out (it may quote a submitted value): read it from `errors`.
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
    super(httpFailureText(init, errors), { cause: init.cause });
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
