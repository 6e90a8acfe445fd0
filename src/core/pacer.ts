import type { Outcome, PolicyContext } from "./delivery-state.ts";
import { backoffDelay } from "./retry.ts";
import { recordSoloFailure, type SoloFailures } from "./suspects.ts";

/**
 * The delivery policy for Userpilot's one-at-a-time requests (events to `POST /v1/track`, deletes
 * to `DELETE /v1/users`), which have no job slot but a rate: one request every `intervalMs`
 * (track: under 600 a minute; delete: one every 2 seconds). Pure, like `delivery-policy.ts`, with
 * the same rules: transient failures (429 with `Retry-After`, 5xx, network, 401/403) back off and
 * retry for as long as it takes; a request Userpilot refuses (400/413/422) is weighed with
 * `recordSoloFailure`, so it is set aside only when it keeps failing while others get through.
 */

/** How a paced stream of requests goes. */
export interface PacerConfig {
  /** Least time, on average, between two requests. */
  readonly intervalMs: number;
  /**
   * How far behind the schedule a request may take its slot: `intervalMs` lets a late alarm keep
   * the average pace (a per-minute limit allows that); 0 keeps every gap at least `intervalMs`
   * (Userpilot's one delete every 2 seconds).
   */
  readonly catchUpMs: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Counted refusals before a request is set aside. */
  readonly setAsideAfter: number;
}

/** What a pacer remembers (plain JSON). */
export interface PacerState {
  /** No request before this time. */
  readonly nextAt: number;
  /** Failures since the last request that went through. */
  readonly streak: number;
  /** Requests that went through: the evidence a refusal is weighed against. */
  readonly delivered: number;
  readonly lastError: { readonly message: string; readonly at: number } | null;
}

/** What becomes of the request an outcome was about. */
export type PacedEffect =
  | { readonly type: "delivered" }
  | { readonly type: "retry" }
  /**
   * Refused: keep it with this record and try it again at `retryAt` (the others go meanwhile), or
   * set it aside.
   */
  | {
    readonly type: "refused";
    readonly record: SoloFailures;
    readonly setAside: boolean;
    readonly retryAt: number;
    readonly reason: string;
  };

/** A pacer that may send at once. */
export const IDLE_PACER: PacerState = Object.freeze({ nextAt: 0, streak: 0, delivered: 0, lastError: null });

/**
 * Fold the outcome of one paced request into the pacer: `sent` (any 2xx), or the outcome its
 * error means (`outcomeOf(error, "submit")`). `previous` is the request's record of refusals.
 *
 * @example
 * ```ts
 * const { state, effect } = onPacedOutcome(pacer, { type: "sent" }, null, config, { now, random });
 * ```
 */
export function onPacedOutcome(
  state: PacerState,
  outcome: { readonly type: "sent" } | Outcome,
  previous: SoloFailures | null,
  config: PacerConfig,
  context: PolicyContext,
): { state: PacerState; effect: PacedEffect } {
  const { now } = context;
  if (outcome.type === "sent") {
    // Each request takes the next slot on the schedule (a late alarm does not push the schedule
    // back, so the pace holds on average), but no credit builds up past `catchUpMs` of idling.
    const nextAt = Math.max(state.nextAt, now - config.catchUpMs) + config.intervalMs;
    return {
      state: { ...state, nextAt, streak: 0, delivered: state.delivered + 1 },
      effect: { type: "delivered" },
    };
  }
  const message = "message" in outcome ? outcome.message : "the request's answer was lost";
  const lastError = { message, at: now };
  if (outcome.type === "refused" || outcome.type === "too-large") {
    // The request's fault, not Userpilot's: the others go on at the usual pace while it waits.
    const { record, setAside } = recordSoloFailure(previous, state.delivered, config.setAsideAfter);
    // Refused again with nothing through since: no evidence against the request yet, so the whole
    // stream backs off as after any failure (a lone refused request is not retried at full pace).
    const uncounted = previous !== null && record === previous;
    const streak = uncounted ? state.streak + 1 : state.streak;
    const paced = Math.max(state.nextAt, now - config.intervalMs) + config.intervalMs;
    return {
      state: {
        ...state,
        nextAt: uncounted ? Math.max(paced, now + backoffDelay(streak, config, context.random)) : paced,
        streak,
        lastError,
      },
      effect: {
        type: "refused",
        record,
        setAside,
        retryAt: now + backoffDelay(record.count, config, context.random),
        reason: `Userpilot refused this request: ${message}`,
      },
    };
  }
  const streak = state.streak + 1;
  const retryAfterMs = outcome.type === "transient" ? outcome.retryAfterMs : undefined;
  const wait = Math.max(config.intervalMs, backoffDelay(streak, config, context.random, retryAfterMs));
  // Never sooner than already decided: another request of the same round may have had a longer
  // `Retry-After`.
  const nextAt = Math.max(state.nextAt, now + wait);
  return { state: { ...state, streak, nextAt, lastError }, effect: { type: "retry" } };
}

/**
 * How many requests may go at `now`: one per slot of `intervalMs` passed since the pacer's
 * `nextAt`, at most `max` at once (sent together, so a slow round trip does not slow the pace),
 * none before `nextAt`. Fold each one's outcome in with {@link onPacedOutcome}: a request that
 * went through takes its slot.
 *
 * @example
 * ```ts
 * const count = dueRequests(pacer, config, Date.now(), 10);
 * ```
 */
export function dueRequests(state: PacerState, config: PacerConfig, now: number, max: number): number {
  if (now < state.nextAt) return 0;
  return Math.min(max, 1 + Math.floor((now - state.nextAt) / config.intervalMs));
}
