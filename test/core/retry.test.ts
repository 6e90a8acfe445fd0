import { expect, test } from "vitest";
import { backoffDelay, DEFAULT_RETRY_POLICY, isRetryableStatus, parseRetryAfter } from "../../mod.ts";
import { resolveRetryPolicy } from "../../src/core/retry.ts";

const policy = DEFAULT_RETRY_POLICY;

test("the ceiling doubles from 1 s and is capped; full jitter scales it", () => {
  const top = (n: number) => backoffDelay(n, policy, () => 0.999999);
  expect([1, 2, 3, 4].map((n) => Math.round(top(n)))).toEqual([1000, 2000, 4000, 8000]);
  expect(top(30)).toBeLessThanOrEqual(policy.maxDelayMs);
  expect(backoffDelay(3, policy, () => 0.5)).toBe(2000);
  expect(backoffDelay(3, policy, () => 0)).toBe(0);
});

test("Retry-After is a floor under the jitter, and the cap still holds", () => {
  expect(backoffDelay(1, policy, () => 0, 5000)).toBe(5000);
  expect(backoffDelay(5, policy, () => 0.9, 1000)).toBe(0.9 * 16000);
  expect(backoffDelay(1, policy, () => 0, 3_600_000)).toBe(policy.maxDelayMs);
});

test("Retry-After as seconds or an HTTP date", () => {
  const now = Date.UTC(2026, 0, 1, 0, 0, 0);
  expect(parseRetryAfter("3", now)).toBe(3000);
  expect(parseRetryAfter(" 0 ", now)).toBe(0);
  expect(parseRetryAfter(new Date(now + 7000).toUTCString(), now)).toBe(7000);
  expect(parseRetryAfter(new Date(now - 7000).toUTCString(), now)).toBe(0);
  expect(parseRetryAfter("soon", now)).toBeUndefined();
  expect(parseRetryAfter(null, now)).toBeUndefined();
});

test("what is retried: 408, 429 and 5xx only", () => {
  expect([408, 429, 500, 502, 503, 504, 599].every(isRetryableStatus)).toBe(true);
  expect([200, 202, 400, 401, 403, 404, 409, 413, 422].some(isRetryableStatus)).toBe(false);
});

test("the policy fills defaults, turns off with false, and refuses nonsense", () => {
  expect(resolveRetryPolicy({ maxAttempts: 2 })).toEqual({ ...policy, maxAttempts: 2 });
  expect(resolveRetryPolicy(false)).toMatchObject({ maxAttempts: 1, jobAttempts: 1, conflictTimeoutMs: 0 });
  expect(() => resolveRetryPolicy({ maxAttempts: 0 })).toThrow(RangeError);
  expect(() => resolveRetryPolicy({ baseDelayMs: -1 })).toThrow(RangeError);
});
