import { type DeliveryPolicyConfig, NEVER_GIVE_UP } from "../../src/core/delivery-policy.ts";

/** The delivery policy at Userpilot's real pace, for tests that drive the policy or the store directly. */
export const POLICY_CONFIG: DeliveryPolicyConfig = {
  maxRows: 10_000,
  pollIntervalMs: 5_000,
  rowsPerMinute: 1_200,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  setAsideAfter: 4,
  giveUp: NEVER_GIVE_UP,
};
