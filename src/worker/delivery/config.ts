/**
 * What the delivery engine's policies are given, from the Worker's tuning: the job slot's policy
 * (`core/delivery-policy.ts`) and the paced streams' (`core/pacer.ts`).
 * @module
 */
import {
  DEFAULT_SET_ASIDE_AFTER,
  type DeliveryPolicyConfig,
  NEVER_GIVE_UP,
} from "../../core/delivery-policy.ts";
import { MAX_ROWS_PER_REQUEST } from "../../core/limits.ts";
import type { PacerConfig } from "../../core/pacer.ts";
import type { Tuning } from "../settings.ts";

/** The two paced streams' settings: one request every `intervalMs`, and the backoff. */
export interface RealtimeConfig {
  readonly track: PacerConfig;
  readonly deletes: PacerConfig;
  /** How long an event waits after it was accepted, for identifies still in the Queue. */
  readonly eventHoldMs: number;
}

/** The job slot's policy for the Durable Object: never give up, back off as configured. */
export function deliveryConfig(tuning: Tuning): DeliveryPolicyConfig {
  return {
    maxRows: MAX_ROWS_PER_REQUEST,
    pollIntervalMs: tuning.pollIntervalMs,
    rowsPerMinute: tuning.rowsPerMinute,
    baseDelayMs: tuning.backoffBaseMs,
    maxDelayMs: tuning.backoffMaxMs,
    setAsideAfter: DEFAULT_SET_ASIDE_AFTER,
    giveUp: NEVER_GIVE_UP,
  };
}

/**
 * The paced streams' settings (events to track, deletes): one request every interval, the same
 * backoff as the job slot; a refused event or delete is set aside like a row (on evidence).
 */
export function realtimeConfig(tuning: Tuning): RealtimeConfig {
  const backoff = { baseDelayMs: tuning.backoffBaseMs, maxDelayMs: tuning.backoffMaxMs };
  const trackIntervalMs = 60_000 / tuning.trackPerMinute;
  return {
    track: {
      ...backoff,
      intervalMs: trackIntervalMs,
      // Userpilot counts real-time calls per minute: a late alarm may catch up one slot.
      catchUpMs: trackIntervalMs,
      setAsideAfter: DEFAULT_SET_ASIDE_AFTER,
    },
    deletes: {
      ...backoff,
      intervalMs: tuning.deleteIntervalMs,
      // Userpilot wants every two deletes apart by its interval: no catching up.
      catchUpMs: 0,
      setAsideAfter: DEFAULT_SET_ASIDE_AFTER,
    },
    eventHoldMs: tuning.eventHoldMs,
  };
}
