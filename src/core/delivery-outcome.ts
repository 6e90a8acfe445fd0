import type { Outcome } from "./delivery-policy.ts";
import {
  describeFailure,
  HTTPError,
  NetworkError,
  RateLimitError,
  TimeoutError,
  UserpilotError,
  ValidationError,
} from "./errors.ts";
import { isRetryableStatus } from "./retry.ts";

/**
 * What an error thrown by a submission (`POST …/bulk_identify`) or a poll (`GET
 * /v1/background_jobs/:id`) means to the delivery policy. Errors that are not about Userpilot's
 * answer (an abort, a bug) are thrown again: the caller's own handling decides.
 *
 * @example
 * ```ts
 * try { job = await client.submitJob("users", rows); } catch (error) { outcome = outcomeOf(error, "submit"); }
 * ```
 */
export function outcomeOf(error: unknown, during: "submit" | "poll"): Outcome {
  const message = describeFailure(error);
  if (error instanceof HTTPError) {
    const { status } = error;
    if (status === 409 && during === "submit") return { type: "conflict", message };
    if (status === 413 && during === "submit") return { type: "too-large", message };
    if ((status === 400 || status === 422) && during === "submit") return { type: "refused", message };
    if (status === 404 && during === "poll") return { type: "job-gone", message };
    if (isRetryableStatus(status)) {
      return {
        type: "transient",
        message,
        retryAfterMs: error instanceof RateLimitError ? error.retryAfterMs : undefined,
      };
    }
    return { type: "unexpected", message };
  }
  if (error instanceof TimeoutError || error instanceof NetworkError) return { type: "transient", message };
  // Checked before sending, and found wrong: it will never be taken as it is.
  if (error instanceof ValidationError) return { type: "refused", message };
  if (error instanceof UserpilotError) return { type: "unexpected", message };
  throw error;
}
