/**
 * The id of one logical write to the ingestion endpoint: a signed request's `webhook-id`, or a
 * bearer caller's `Idempotency-Key`. The endpoint accepts an id once; a caller reuses it on every
 * retry of the same call, so a retry can never be applied twice.
 */

/** The header a bearer caller names its request with. */
export const IDEMPOTENCY_KEY_HEADER = "Idempotency-Key";

const REQUEST_ID = /^[\x21-\x7e]{1,255}$/;

/** Whether `value` can be a request id: 1 to 255 visible ASCII characters (a UUID, `msg_…`). */
export function isRequestId(value: unknown): value is string {
  return typeof value === "string" && REQUEST_ID.test(value);
}

/**
 * A fresh request id, unique for all practical purposes.
 *
 * @example
 * ```ts
 * const id = newRequestId(); // "msg_0b7c…"; send it with every attempt of one call
 * ```
 */
export function newRequestId(): string {
  return `msg_${crypto.randomUUID().replaceAll("-", "")}`;
}
