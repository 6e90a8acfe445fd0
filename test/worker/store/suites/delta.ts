import { describe, expect, test } from "vitest";
import type { User } from "../../../../mod.ts";
import { initialSlotState } from "../../../../src/core/delivery-policy.ts";
import { carriedPrints, encodePrints } from "../../../../src/worker/store/delta.ts";
import { DeliveryStore } from "../../../../src/worker/store/index.ts";
import { type InStore, planAndEndJob } from "./support.ts";
import { POLICY_CONFIG as config } from "../../../support/policy-config.ts";

import type { SqlStorageLike } from "../../../../src/worker/sql.ts";

const HOUR = 3_600_000;

/** Profiles with fingerprints. */
const profiles = (storage: SqlStorageLike): number =>
  storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM fingerprints").one().n;
const RESEND = 168 * HOUR;
const T0 = 1_764_000_000_000;

const job = (store: DeliveryStore, now: number, end?: "completed" | "failed" | "released" | "open") =>
  planAndEndJob(store, now, RESEND, end);

const user = (metadata: User["metadata"], company_id?: string): User => ({
  user_id: "u1",
  ...(company_id === undefined ? {} : { company_id }),
  metadata,
});

/** The suite, on stores `inStore` opens. */
export function deltaStoreSuite(inStore: InStore): void {
  describe("delta delivery in the store", () => {
    test("a row Userpilot already has is left out and counted; of a changed row only what changed goes", async () => {
      await inStore("unchanged", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge("users", [user({ plan: "pro", seats: 3 }), { user_id: "u2" }], T0, T0);
        expect(job(store, T0)).toHaveLength(2);
        store.merge("users", [user({ plan: "pro", seats: 3 }), { user_id: "u2" }], T0 + 1, T0 + 1);
        expect(job(store, T0 + 1)).toEqual([]);
        expect(store.lanes.counts().pending.users).toBe(0);
        expect(store.meta.get("rows_unchanged")).toBe("2");
        expect(store.meta.get("properties_unchanged")).toBe("2");
        store.merge("users", [user({ plan: "pro", seats: 4 })], T0 + 2, T0 + 2);
        expect(job(store, T0 + 2)).toEqual([{ user_id: "u1", metadata: { seats: 4 } }]);
        expect(store.meta.get("properties_unchanged")).toBe("3");
      });
    });

    test("changed and changed back: left out before delivery, sent when the change was delivered meanwhile", async () => {
      await inStore("back", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge("users", [user({ plan: "pro" })], T0, T0);
        job(store, T0);
        // Changed and back before any job: Userpilot still has "pro".
        store.merge("users", [user({ plan: "free" })], T0 + 1, T0 + 1);
        store.merge("users", [user({ plan: "pro" })], T0 + 2, T0 + 2);
        expect(job(store, T0 + 2)).toEqual([]);
        // Changed, that change in flight, then changed back: once "free" is delivered, "pro" is owed.
        store.merge("users", [user({ plan: "free" })], T0 + 3, T0 + 3);
        expect(job(store, T0 + 3, "open")).toEqual([{ user_id: "u1", metadata: { plan: "free" } }]);
        store.merge("users", [user({ plan: "pro" })], T0 + 4, T0 + 4);
        store.job.apply({ type: "settle" }, store.job.slot(() => initialSlotState(config)), 4, T0 + 5);
        expect(job(store, T0 + 6)).toEqual([{ user_id: "u1", metadata: { plan: "pro" } }]);
      });
    });

    test("a null goes unless a completed job delivered that very removal; a value after it goes", async () => {
      await inStore("nulls", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        // No fingerprint never proves Userpilot lacks the property (it may have been forgotten,
        // pruned, or delivered before fingerprints were kept): the null goes.
        store.merge("users", [user({ trial: null })], T0, T0);
        expect(job(store, T0)).toEqual([{ user_id: "u1", metadata: { trial: null } }]);
        store.merge("users", [user({ trial: "yes" })], T0 + 1, T0 + 1);
        expect(job(store, T0 + 1)).toEqual([{ user_id: "u1", metadata: { trial: "yes" } }]);
        store.merge("users", [user({ trial: null })], T0 + 2, T0 + 2);
        expect(job(store, T0 + 2)).toEqual([{ user_id: "u1", metadata: { trial: null } }]);
        store.merge("users", [user({ trial: null })], T0 + 3, T0 + 3);
        expect(job(store, T0 + 3)).toEqual([]);
        store.merge("users", [user({ trial: "yes" })], T0 + 4, T0 + 4);
        expect(job(store, T0 + 4)).toEqual([{ user_id: "u1", metadata: { trial: "yes" } }]);
      });
    });

    test("a company move is a change, and so is moving back", async () => {
      await inStore("company", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge("users", [user({ plan: "pro" }, "c1")], T0, T0);
        job(store, T0);
        store.merge("users", [user({ plan: "pro" }, "c1")], T0 + 1, T0 + 1);
        expect(job(store, T0 + 1)).toEqual([]);
        store.merge("users", [user({ plan: "pro" }, "c2")], T0 + 2, T0 + 2);
        expect(job(store, T0 + 2)).toEqual([{ user_id: "u1", company_id: "c2" }]);
        store.merge("users", [user({ plan: "pro" }, "c1")], T0 + 3, T0 + 3);
        expect(job(store, T0 + 3)).toEqual([{ user_id: "u1", company_id: "c1" }]);
      });
    });

    test("an unchanged value is sent again once it is RESEND_AFTER_HOURS old", async () => {
      await inStore("resend", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge("users", [user({ plan: "pro", seats: 1 })], T0, T0);
        job(store, T0);
        store.merge("users", [user({ plan: "pro" })], T0 + 1, T0 + 1);
        expect(job(store, T0 + RESEND - 1000)).toEqual([]);
        store.merge("users", [user({ plan: "pro" })], T0 + 2, T0 + 2);
        expect(job(store, T0 + RESEND)).toEqual([{ user_id: "u1", metadata: { plan: "pro" } }]);
        // Sent again, its age starts over; the id's own entry was as old, so it went too.
        store.merge("users", [user({ plan: "pro" })], T0 + 3, T0 + 3);
        expect(job(store, T0 + RESEND + 1000)).toEqual([]);
      });
    });

    test("a job that failed counts nothing as delivered: every value goes again", async () => {
      await inStore("failed", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge("users", [user({ plan: "pro" }, "c1")], T0, T0);
        expect(job(store, T0, "failed")).toHaveLength(1);
        expect(profiles(storage)).toBe(0);
        expect(job(store, T0 + 1)).toEqual([{ user_id: "u1", company_id: "c1", metadata: { plan: "pro" } }]);
        expect(profiles(storage)).toBe(1);
      });
    });

    test("a deletion forgets the ids, also when a job carrying them completes after it", async () => {
      await inStore("deletion", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge("users", [user({ plan: "pro" }), { user_id: "u2", metadata: { plan: "pro" } }], T0, T0);
        job(store, T0);
        store.deleteIds("users", ["u1"], T0 + 1);
        // u2 is in flight when it is deleted; the job completes after the delete was accepted.
        store.merge("users", [{ user_id: "u2", metadata: { plan: "free" } }], T0 + 2, T0 + 2);
        job(store, T0 + 2, "open");
        store.deleteIds("users", ["u2"], T0 + 3);
        store.job.apply({ type: "settle" }, store.job.slot(() => initialSlotState(config)), 4, T0 + 4);
        expect(store.fingerprints.get("users", "u1")).toBeUndefined();
        expect(store.fingerprints.get("users", "u2")).toBeUndefined();
        storage.sql.exec("UPDATE deletions SET forwarded_at = ?", T0 + 5);
        store.merge("users", [user({ plan: "pro" })], T0 + 6, T0 + 6);
        expect(job(store, T0 + 6)).toEqual([{ user_id: "u1", metadata: { plan: "pro" } }]);
      });
    });

    test("profiles not seen for FORGET_AFTER_DAYS are forgotten, a bounded batch at a time", async () => {
      await inStore("forget", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        const rows = Array.from({ length: 30 }, (_, i) => ({ user_id: `old${i}` }));
        store.merge("users", rows, T0, T0);
        job(store, T0);
        store.merge("users", [{ user_id: "recent" }], T0 + HOUR, T0 + HOUR);
        job(store, T0 + HOUR);
        expect(store.fingerprints.forgetUnseen(T0 + 1, 20)).toBe(20);
        expect(store.fingerprints.forgetUnseen(T0 + 1, 20)).toBe(10);
        expect(profiles(storage)).toBe(1);
        expect(store.fingerprints.get("users", "recent")).toBeDefined();
      });
    });

    test("bytes per profile: 10,000 users of 10 properties each", async () => {
      await inStore("bytes", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        const sizeBefore = storage.sql.databaseSize;
        // What completed jobs record: the id, a company and 9 metadata keys per user.
        for (let i = 0; i < 10_000; i++) {
          const id = `user-${i}@example.com`;
          const row: User = {
            user_id: id,
            company_id: `company-${i % 100}`,
            metadata: Object.fromEntries(Array.from({ length: 9 }, (_, k) => [`property_${k}`, `${k}-${i}`])),
          };
          const names = ["@", "company_id", ...Array.from({ length: 9 }, (_, k) => `m:property_${k}`)];
          store.fingerprints.record("users", id, encodePrints(carriedPrints("users", id, row, names)), T0);
        }
        const perProfile = (storage.sql.databaseSize - sizeBefore) / 10_000;
        console.log(
          `fingerprints: ${perProfile.toFixed(0)} bytes per profile (the id, a company, 9 properties)`,
        );
        // 11 entries of 16 bytes, plus the key, the time, the index and SQLite's own overhead.
        expect(perProfile).toBeLessThan(320);
        expect(profiles(storage)).toBe(10_000);
      });
    });
  });
}
