/**
 * The retry budgets and the backoff, in one place. What each Userpilot answer *means* for the job
 * slot (409, 413, 400, failed and stuck jobs) is the delivery policy's (`delivery-policy.ts`);
 * this file says how long to wait and when a caller stops.
 *
 * - Retried: network errors (no HTTP answer, or a body cut off), per-attempt timeouts, and the
 *   statuses 408, 429 and 5xx. Retrying a bulk POST is safe because a bulk identify is an upsert:
 *   sending the same rows twice leaves the same profiles. In bulk calls, jobs that end `failed`,
 *   refused rows (400/422) and jobs past their allowance are retried too, split by the delivery
 *   policy until a row that keeps failing alone is set aside.
 * - Waited out: 409 (another bulk job is running) until `conflictTimeoutMs`. Split: 413.
 *   401, 403 and other answers no retry can change fail at once.
 * - Wait before retry `n` (1-based): full jitter, `random() * min(maxDelayMs, baseDelayMs * 2^(n-1))`;
 *   a `Retry-After` header is a floor under that wait; `maxDelayMs` caps the result either way.
 *   A 409 waits at least the poll interval.
 * - Gives up after `maxAttempts` requests in a row without a usable answer, or `jobAttempts` jobs
 *   in a row that did not complete, and throws the last error. `Infinity` never gives up (the
 *   endpoint's Durable Object runs that way).
 */
export interface RetryPolicy {
  /** Requests in a row without a usable answer before giving up, the first included. Default 6. */
  readonly maxAttempts: number;
  /** The first backoff step. Default 1,000 ms (Userpilot advises 1 s, 2 s, 4 s, 8 s…). */
  readonly baseDelayMs: number;
  /** The longest single wait, `Retry-After` included. Default 60,000 ms. */
  readonly maxDelayMs: number;
  /** Jobs in a row that do not complete (failed, refused, stuck), with none completed between. Default 3. */
  readonly jobAttempts: number;
  /** How long to wait for another running job (409) before giving up. Default one hour. */
  readonly conflictTimeoutMs: number;
}

/** Any subset of {@link RetryPolicy}; the rest comes from the defaults. */
export type RetryOptions = Partial<RetryPolicy>;

/** The defaults, documented in docs/core.md. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  maxAttempts: 6,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  jobAttempts: 3,
  conflictTimeoutMs: 60 * 60 * 1000,
});

/** Fill in defaults; `false` means a single attempt of everything. */
export function resolveRetryPolicy(options?: RetryOptions | false): RetryPolicy {
  if (options === false) {
    return { ...DEFAULT_RETRY_POLICY, maxAttempts: 1, jobAttempts: 1, conflictTimeoutMs: 0 };
  }
  const policy = { ...DEFAULT_RETRY_POLICY, ...options };
  for (const key of ["maxAttempts", "jobAttempts"] as const) {
    if (!(Number.isInteger(policy[key]) || policy[key] === Number.POSITIVE_INFINITY) || policy[key] < 1) {
      throw new RangeError(`retry.${key} must be a whole number of at least 1, or Infinity`);
    }
  }
  for (const key of ["baseDelayMs", "maxDelayMs", "conflictTimeoutMs"] as const) {
    if (!(policy[key] >= 0)) throw new RangeError(`retry.${key} must be a number of at least 0`);
  }
  return policy;
}

/** True for the statuses worth another attempt: 408, 429 and every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * Read `Retry-After` as milliseconds from `nowMs`: either delay-seconds or an HTTP date.
 * Returns `undefined` when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** The wait before retry number `retry` (1-based). `random` returns a number in [0, 1). */
export function backoffDelay(
  retry: number,
  policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">,
  random: () => number,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  const jittered = random() * ceiling;
  return Math.min(policy.maxDelayMs, Math.max(jittered, retryAfterMs ?? 0));
}

/** Wait `ms`, or reject with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
