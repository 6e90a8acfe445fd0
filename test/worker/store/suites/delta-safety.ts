import { describe, expect, test } from "vitest";
import type { User } from "../../../../mod.ts";
import { initialSlotState } from "../../../../src/core/delivery-policy.ts";
import { nameKey, profileKey } from "../../../../src/worker/store/delta.ts";
import { DeliveryStore } from "../../../../src/worker/store/index.ts";
import { type InStore, planAndEndJob } from "./support.ts";
import { POLICY_CONFIG as config } from "../../../support/policy-config.ts";

/**
 * Delta delivery never holds back what Userpilot may lack: cases a review found (a job that ended
 * without completing, a null with no fingerprint, collisions, deletions). Each test states what
 * Userpilot must end up with.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const RESEND = 168 * HOUR;
const T0 = 1_764_000_000_000;

const job = (store: DeliveryStore, now: number, end?: "completed" | "failed" | "released" | "open") =>
  planAndEndJob(store, now, RESEND, end);

const user = (metadata: User["metadata"]): User => ({ user_id: "u1", metadata });

/** The suite, on stores `inStore` opens. */
export function deltaSafetySuite(inStore: InStore): void {
  describe("delta delivery: a null for a property Userpilot HAS must be sent", () => {
    test("after the admin route forgot the profile ('force a full resend')", async () => {
      await inStore("forget-admin-null", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge("users", [user({ trial: "yes" })], T0, T0);
        expect(job(store, T0)).toEqual([{ user_id: "u1", metadata: { trial: "yes" } }]);
        // Userpilot has trial = "yes". The operator forces a full resend.
        store.fingerprints.forget("users", ["u1"]);
        store.merge("users", [user({ trial: null })], T0 + 1, T0 + 1);
        // The removal must go: Userpilot still has "yes".
        expect(job(store, T0 + 1)).toEqual([{ user_id: "u1", metadata: { trial: null } }]);
      });
    });

    test("after FORGET_AFTER_DAYS pruned the profile", async () => {
      await inStore("forget-unseen-null", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge("users", [user({ trial: "yes" })], T0, T0);
        job(store, T0);
        const later = T0 + 91 * DAY;
        store.fingerprints.forgetUnseen(later - 90 * DAY, 1_000);
        store.merge("users", [user({ trial: null })], later, later);
        expect(job(store, later)).toEqual([{ user_id: "u1", metadata: { trial: null } }]);
      });
    });

    test("FORGET_AFTER_DAYS prunes while a job is in flight: the partial prints then vouch for absence", async () => {
      await inStore("forget-inflight-null", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge("users", [user({ trial: "yes" })], T0, T0);
        job(store, T0);
        const later = T0 + 91 * DAY;
        store.merge("users", [user({ plan: "pro" })], later, later);
        job(store, later, "open"); // carries plan only
        store.fingerprints.forgetUnseen(later - 90 * DAY, 1_000); // the alarm's prune, same minute
        store.job.apply({ type: "settle" }, store.job.slot(() => initialSlotState(config)), 4, later + 1);
        store.merge("users", [user({ trial: null })], later + 2, later + 2);
        expect(job(store, later + 2)).toEqual([{ user_id: "u1", metadata: { trial: null } }]);
      });
    });

    test("for a profile delivered before the upgrade (store migrated to version 7 with no fingerprints)", async () => {
      await inStore("upgrade-null", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        // Delivered before delta delivery existed: simulate by delivering, then dropping the table's rows.
        store.merge("users", [user({ trial: "yes" })], T0, T0);
        job(store, T0);
        storage.sql.exec("DELETE FROM fingerprints");
        store.merge("users", [user({ trial: null })], T0 + 1, T0 + 1);
        expect(job(store, T0 + 1)).toEqual([{ user_id: "u1", metadata: { trial: null } }]);
      });
    });

    test("two property names whose 32-bit name keys collide: one's removal erases the other's print", async () => {
      // Found by a birthday search over "p<i>": both are 2094889529.
      expect(nameKey("m:p28036")).toBe(nameKey("m:p113527"));
      await inStore("namekey-collision", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge("users", [user({ p28036: "x" })], T0, T0);
        job(store, T0);
        store.merge("users", [user({ p113527: null })], T0 + 1, T0 + 1);
        job(store, T0 + 1); // sent (a print exists under the shared key), then folded as a removal
        // Userpilot still has p28036 = "x"; removing it must go.
        store.merge("users", [user({ p28036: null })], T0 + 2, T0 + 2);
        expect(job(store, T0 + 2)).toEqual([{ user_id: "u1", metadata: { p28036: null } }]);
      });
    });
  });

  describe("delta delivery: a job whose outcome is unknown may have delivered what it carried", () => {
    for (const end of ["failed", "released"] as const) {
      test(`a job ${end} (ran past its allowance / lost / job-gone / failed) carried v2; changed back to v1 must go`, async () => {
        await inStore(`unknown-outcome-${end}`, (storage) => {
          const store = new DeliveryStore(storage, Date.now());
          store.merge("users", [user({ plan: "pro" })], T0, T0);
          job(store, T0); // Userpilot has "pro"
          store.merge("users", [user({ plan: "free" })], T0 + 1, T0 + 1);
          // The job carrying "free" is submitted; Userpilot may run it (a job past its allowance
          // keeps running; a lost POST may have started it; a failed job may have applied rows).
          expect(job(store, T0 + 1, end)).toEqual([{ user_id: "u1", metadata: { plan: "free" } }]);
          // The user changes back before the rows are sent again.
          store.merge("users", [user({ plan: "pro" })], T0 + 2, T0 + 2);
          // "pro" must go: Userpilot may well have "free" now.
          expect(job(store, T0 + 2)).toEqual([{ user_id: "u1", metadata: { plan: "pro" } }]);
        });
      });
    }
  });

  describe("delta delivery: a 53-bit profile-key collision", () => {
    // Found by a Pollard-rho search over "r<n>" (about 2^28 hash evaluations).
    const [a, b] = ["r1235813212188684", "r259542526881099"];

    test("one profile's removal erases the other's print: its null is then left out", async () => {
      expect(profileKey("users", a)).toBe(profileKey("users", b));
      await inStore("profilekey-collision", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge("users", [{ user_id: a, metadata: { trial: "yes" } }], T0, T0);
        job(store, T0); // Userpilot: a.trial = "yes"
        store.merge("users", [{ user_id: b, metadata: { trial: "x" } }], T0 + 1, T0 + 1);
        job(store, T0 + 1);
        store.merge("users", [{ user_id: b, metadata: { trial: null } }], T0 + 2, T0 + 2);
        job(store, T0 + 2); // b's removal, folded into the shared list
        store.merge("users", [{ user_id: a, metadata: { trial: null } }], T0 + 3, T0 + 3);
        // Userpilot still has a.trial = "yes": the removal must go.
        expect(job(store, T0 + 3)).toEqual([{ user_id: a, metadata: { trial: null } }]);
      });
    });
  });
}
