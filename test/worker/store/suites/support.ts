/**
 * What the store suites share, in workerd (test/worker/store/) and in Node over SQLite (test/sim/):
 * a store of its own per test, and a job planned and ended as the delivery object does.
 */
import { beginJob, initialSlotState } from "../../../../src/core/delivery-policy.ts";
import type { Company, User } from "../../../../src/core/schemas.ts";
import { leaveOutUnchanged } from "../../../../src/worker/delivery/delta-plan.ts";
import type { SqlStorageLike } from "../../../../src/worker/sql.ts";
import type { DeliveryStore } from "../../../../src/worker/store/index.ts";
import { POLICY_CONFIG } from "../../../support/policy-config.ts";

/** Run `fn` on an empty store of its own, named for the test (a Durable Object's, or a SQLite database). */
export type InStore = (name: string, fn: (storage: SqlStorageLike) => void | Promise<void>) => Promise<void>;

/**
 * Plan a job as the delivery object does (leaving out what Userpilot has, fingerprints
 * `resendAfterMs` old going again), record it in flight, and end it: `completed` settles it,
 * `failed` sends its rows back as suspects, `released` lets them go back, `open` leaves it running.
 * Returns the rows the job carried (none: no job).
 */
export function planAndEndJob(
  store: DeliveryStore,
  now: number,
  resendAfterMs: number,
  end: "completed" | "failed" | "released" | "open" = "completed",
): (User | Company)[] {
  const next = store.lanes.candidates("fresh", 10_000) ?? store.lanes.candidates("suspect", 10_000);
  if (next === undefined) return [];
  const candidates = leaveOutUnchanged(store, next.kind, next.candidates, now, resendAfterMs);
  if (candidates.length === 0) return [];
  const state = beginJob(initialSlotState(POLICY_CONFIG), "fresh", candidates.length, now);
  store.job.begin(next.kind, candidates, state);
  const slot = { kind: next.kind, state };
  if (end === "completed") store.job.apply({ type: "settle" }, { kind: null, state }, 4, now);
  if (end === "failed") store.job.apply({ type: "suspect", limit: 1 }, slot, 4, now);
  if (end === "released") store.job.apply({ type: "release" }, slot, 4, now);
  return candidates.map((c) => c.row);
}
