import { describe, expect, test } from "vitest";
import type { User } from "../../../../mod.ts";
import { beginJob, initialSlotState } from "../../../../src/core/delivery-policy.ts";
import { DeliveryStore } from "../../../../src/worker/store/index.ts";
import type { InStore } from "./support.ts";
import { POLICY_CONFIG as config } from "../../../support/policy-config.ts";
import { SCHEMA_VERSION } from "../../../../src/worker/store/schema.ts";

/** Plan a job from a lane and record it in flight, as the delivery object does. */
function plan(store: DeliveryStore, lane: "fresh" | "suspect" = "fresh", maxRows = 10_000) {
  const next = store.lanes.candidates(lane, maxRows)!;
  const slot = {
    kind: next.kind,
    state: beginJob(initialSlotState(config), lane, next.candidates.length, 1),
  };
  store.job.begin(next.kind, next.candidates, slot.state);
  return { ...next, slot };
}

/** A user with a dozen long metadata keys: a 10,000-row job of these carries about 4 MB of field times. */
function wideUser(i: number, value: string): User {
  const metadata: Record<string, string | number> = {};
  for (let k = 0; k < 12; k++) metadata[`attribute_with_a_fairly_long_name_${k}`] = `${value}-${i}-${k}`;
  return { user_id: `user-${i}`, metadata };
}

/** The suite, on stores `inStore` opens. */
export function deliveryStoreSuite(inStore: InStore): void {
  describe("DeliveryStore", () => {
    test("a 10,000-row job of wide rows settles in bulk; rows updated meanwhile keep exactly their newer fields", async () => {
      await inStore("bulk", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        // Fractional acceptance stamps, as the Worker makes them: they must survive SQLite exactly.
        const first = 1_764_000_000_000.123;
        const rows = Array.from({ length: 10_000 }, (_, i) => wideUser(i, "old"));
        store.merge("users", rows, first, 0);
        const planned = plan(store);
        expect(planned.candidates).toHaveLength(10_000);

        // While the job runs: user-7 changes one field, user-8 gets an older (dropped) value.
        store.merge(
          "users",
          [{ user_id: "user-7", metadata: { attribute_with_a_fairly_long_name_3: "new" } }],
          first + 5,
          2,
        );
        store.merge(
          "users",
          [{ user_id: "user-8", metadata: { attribute_with_a_fairly_long_name_3: "stale" } }],
          first - 5,
          2,
        );

        expect(store.job.apply({ type: "settle" }, planned.slot, 4, 3)).toBe(10_000);
        // Only user-7 is left, carrying only what changed after its job was planned.
        const next = store.lanes.candidates("fresh", 10_000)!;
        expect(next.candidates.map((c) => [c.id, c.row])).toEqual([
          ["user-7", { user_id: "user-7", metadata: { attribute_with_a_fairly_long_name_3: "new" } }],
        ]);
        // (`@` is the identify itself, which every merge renews.)
        expect(next.candidates[0]!.carried).toEqual({
          "@": first + 5,
          "m:attribute_with_a_fairly_long_name_3": first + 5,
        });

        // A redelivery of the first message, stamp for stamp, is recognised as already delivered.
        store.merge("users", rows.slice(0, 100), first, 4);
        expect(store.lanes.counts().pending.users).toBe(1);
      });
    });

    test("an event waits for every update of its user accepted before it, even one a later update replaced before delivery", async () => {
      await inStore("event-gate", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        const ready = () => store.events.ready(10, 1_000_000, 0).map((e) => e.event.user_id).sort();
        const event = (userId: string, at: number, name = "clicked") =>
          store.events.add(
            [{ eventId: `${userId}-${at}`, event: { user_id: userId, event_name: name } }],
            at,
            () => null,
          );

        // "a": accepted at 1000 (Userpilot does not know the user yet), its event at 2000, then an
        // update at 3000 replacing every value of the first before anything was delivered.
        store.merge("users", [{ user_id: "a", metadata: { plan: "free" } }], 1000, 0);
        event("a", 2000);
        store.merge("users", [{ user_id: "a", metadata: { plan: "pro" } }], 3000, 0);
        // "b": in a job already; updated at 1500 while the job runs, its event at 2000, and the 1500
        // update replaced at 3000, still while the job runs.
        store.merge("users", [{ user_id: "b", metadata: { plan: "free" } }], 1000, 0);
        // "c": in the same job; a stale update (older than what the job carries) arrives meanwhile.
        store.merge("users", [{ user_id: "c", metadata: { plan: "free" } }], 1000, 0);
        const job = plan(store);
        expect(job.candidates.map((c) => c.id).sort()).toEqual(["a", "b", "c"]);
        store.merge("users", [{ user_id: "b", metadata: { plan: "pro", seats: 3 } }], 1500, 0);
        event("b", 2000);
        store.merge("users", [{ user_id: "b", metadata: { plan: "enterprise", seats: 5 } }], 3000, 0);
        store.merge("users", [{ user_id: "c", metadata: { plan: "stale" } }], 500, 0);
        event("c", 2000);
        expect(ready()).toEqual([]);

        store.job.apply({ type: "settle" }, job.slot, 4, 3);
        // "a" was carried at 3000 (its 1000 update with it); "c"'s job covers everything before its
        // event; "b"'s 1500 update is still owed, although its values were replaced.
        expect(ready()).toEqual(["a", "c"]);
        const next = plan(store);
        expect(next.candidates.map((c) => c.id)).toEqual(["b"]);
        expect(ready()).toEqual(["a", "c"]);
        store.job.apply({ type: "settle" }, next.slot, 4, 4);
        expect(ready()).toEqual(["a", "b", "c"]);
      });
    });

    test("a redriven row keeps its user's events waiting, though later updates replaced the values it stood for", async () => {
      await inStore("redrive-gate", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        const ready = () => store.events.ready(10, 1_000_000, 0).map((e) => e.event.user_id);
        // "p" (which Userpilot refuses) accepted at 1000, its event at 2000, replaced at 3000.
        store.merge("users", [{ user_id: "p", metadata: { plan: "free" } }], 1000, 0);
        store.events.add(
          [{ eventId: "p-2000", event: { user_id: "p", event_name: "clicked" } }],
          2000,
          () => null,
        );
        store.merge("users", [{ user_id: "p", metadata: { plan: "pro" } }], 3000, 0);
        // Sent alone and refused: set aside at once; the event waits behind it.
        store.job.apply({ type: "suspect", limit: 1 }, plan(store).slot, 4, 1);
        store.job.apply({ type: "failed-alone", reason: "refused" }, plan(store, "suspect").slot, 1, 2);
        expect(store.setAside.count()).toBe(1);
        expect(ready()).toEqual([]);
        // Updated again at 4000 (every value replaced), refused alone again: a second entry.
        store.merge("users", [{ user_id: "p", metadata: { plan: "team" } }], 4000, 2);
        store.job.apply({ type: "failed-alone", reason: "refused" }, plan(store, "suspect").slot, 1, 3);
        expect(store.setAside.count()).toBe(2);
        // Redriven, oldest entry first: the row carries only values stamped 4000, yet stands for
        // the 1000 update too. Userpilot still does not know "p": the event waits for the row.
        expect(store.setAside.redrive({ all: true }, 10, 3)).toBe(2);
        expect(store.setAside.count()).toBe(0);
        expect(ready()).toEqual([]);
        const again = plan(store, "suspect");
        expect(again.candidates.map((c) => c.id)).toEqual(["p"]);
        store.job.apply({ type: "settle" }, again.slot, 4, 4);
        expect(ready()).toEqual(["p"]);
      });
    });

    test("a row whose fields another writer changed mid-job (say an older version, after a rollback) stays pending", async () => {
      await inStore("foreign-writer", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge("users", [{ user_id: "a", metadata: { plan: "free" } }], 1000, 0);
        const planned = plan(store);
        // The first release's merge: it rewrites `fields` and knows nothing of `rev`.
        storage.sql.exec(
          "UPDATE rows SET fields = ? WHERE kind = 'users' AND id = 'a'",
          JSON.stringify({ "@": [null, 2000], "m:plan": ["pro", 2000] }),
        );
        store.job.apply({ type: "settle" }, planned.slot, 4, 3);
        expect(store.lanes.candidates("fresh", 10)!.candidates.map((c) => c.row)).toEqual([
          { user_id: "a", metadata: { plan: "pro" } },
        ]);
      });
    });

    test("updates that merge past 256 keys are split across jobs by key, never set aside", async () => {
      await inStore("many-keys", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        const keys = (from: number, count: number) =>
          Object.fromEntries(Array.from({ length: count }, (_, k) => [`k${from + k}`, from + k]));
        // Two valid updates (200 keys each) of one user: 400 keys together.
        store.merge("users", [{ user_id: "wide", metadata: keys(0, 200) }], 1000, 1);
        store.merge("users", [{ user_id: "wide", metadata: keys(200, 200) }], 2000, 1);
        const first = plan(store);
        expect(Object.keys(first.candidates[0]!.row.metadata!)).toHaveLength(256);
        // The oldest values go first.
        expect(first.candidates[0]!.row.metadata!["k0"]).toBe(0);
        store.job.apply({ type: "settle" }, first.slot, 4, 3);
        const second = plan(store);
        expect(Object.keys(second.candidates[0]!.row.metadata!)).toHaveLength(144);
        store.job.apply({ type: "settle" }, second.slot, 4, 4);
        expect(store.lanes.counts().pending.users).toBe(0);
        expect(store.setAside.count()).toBe(0);
      });
    });

    test("a row that merges past SQLite's 2 MB row limit is set aside alone, kept; the rest of the batch merges", async () => {
      await inStore("too-big", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        // Three messages for one user, each within every per-message limit (100 keys of 8,000
        // characters), that together would make a 2.4 MB row.
        const part = (from: number): User => ({
          user_id: "big",
          metadata: Object.fromEntries(
            Array.from({ length: 100 }, (_, k) => [`k${from + k}`, "x".repeat(8_000)]),
          ),
        });
        store.merge("users", [part(0)], 1000, 1);
        store.merge("users", [part(100)], 1001, 1);
        expect(store.merge("users", [part(200), { user_id: "small", metadata: { plan: "pro" } }], 1002, 1))
          .toBe(1);
        const aside = store.setAside.list({ limit: 10 }).rows;
        expect(aside).toHaveLength(1);
        expect(aside[0]).toMatchObject({ id: "big", reason: expect.stringMatching(/too large/) });
        // Kept with its values, for an operator.
        expect(Object.keys((aside[0]!.row as User).metadata!)).toEqual(Object.keys(part(200).metadata!));
        const pending = store.lanes.candidates("fresh", 10)!.candidates;
        expect(pending.map((c) => c.id).sort()).toEqual(["big", "small"]);
        // What was stored before stays as it was: the first 200 keys (of which one job carries
        // what fits in its 1 MB per row; the rest goes in the next).
        const stored = storage.sql.exec<{ fields: string }>("SELECT fields FROM rows WHERE id = 'big'")
          .one();
        expect(Object.keys(JSON.parse(stored.fields)).filter((name) => name.startsWith("m:"))).toHaveLength(
          200,
        );
        expect(Object.keys(pending.find((c) => c.id === "big")!.row.metadata!).length).toBeLessThan(200);
      });
    });

    test("a failed job's rows become suspects; a row failing alone is set aside only on evidence, and redrives", async () => {
      await inStore("suspects", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.merge(
          "users",
          [{ user_id: "a", metadata: { v: 1 } }, { user_id: "b", metadata: { v: 1 } }],
          1000,
          1,
        );
        let job = plan(store);
        store.job.apply({ type: "suspect", limit: 1 }, job.slot, 4, 2);
        expect(store.lanes.ready()).toEqual({ fresh: false, suspect: true });
        expect(store.lanes.counts()).toMatchObject({ pending: { users: 2 }, suspects: 2 });
        // Suspects come in the order they failed, each limited to jobs of one row.
        job = plan(store, "suspect");
        expect(job.candidates.map((c) => [c.id, c.limit])).toEqual([["a", 1], ["b", 1]]);
        // "a" fails alone four times, with another job completing between each: set aside.
        for (let completions = 1; completions <= 4; completions++) {
          const slot = { kind: "users" as const, state: { ...job.slot.state, completions } };
          const next = store.lanes.candidates("suspect", 10)!;
          store.job.begin("users", next.candidates.filter((c) => c.id === "a"), slot.state);
          store.job.apply(
            { type: "failed-alone", reason: "Userpilot failed alone" },
            slot,
            4,
            10 + completions,
          );
        }
        expect(store.setAside.list({ limit: 10 }).rows).toEqual([
          expect.objectContaining({ id: "a", row: { user_id: "a", metadata: { v: 1 } }, attempts: 4 }),
        ]);
        expect(store.lanes.counts()).toMatchObject({ pending: { users: 1 }, suspects: 1 });
        // A newer value of "a" arrives meanwhile; the redrive must not undo it.
        store.merge("users", [{ user_id: "a", metadata: { w: 2 } }], 3000, 20);
        expect(store.setAside.redrive({ all: true }, 100, 30)).toBe(1);
        const again = store.lanes.candidates("suspect", 10)!.candidates.find((c) => c.id === "a")!;
        expect(again.row).toEqual({ user_id: "a", metadata: { v: 1, w: 2 } });
        expect(again.limit).toBe(1);
        expect(store.setAside.count()).toBe(0);
      });
    });

    test("the lane counts kept by triggers equal a full count after every kind of write", async () => {
      await inStore("counts", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        const counted = () => {
          const pending = { users: 0, companies: 0 };
          let suspects = 0;
          for (
            const { kind, n, suspect } of storage.sql.exec<
              { kind: "users" | "companies"; n: number; suspect: number }
            >(
              `SELECT kind, count(*) AS n, suspect_limit IS NOT NULL AS suspect FROM rows
               WHERE pending_since IS NOT NULL GROUP BY 1, 3`,
            )
          ) {
            pending[kind] += n;
            if (suspect) suspects += n;
          }
          return { pending, suspects };
        };
        const check = () => expect(store.lanes.counts()).toMatchObject(counted());
        store.merge(
          "users",
          Array.from({ length: 30 }, (_, i) => ({ user_id: `u${i}`, metadata: { i } })),
          1000,
          1,
        );
        store.merge("companies", [{ company_id: "c1" }, { company_id: "c2" }], 1000, 1);
        check();
        let job = plan(store, "fresh", 10);
        store.job.apply({ type: "settle" }, job.slot, 4, 2);
        check();
        job = plan(store, "fresh", 10);
        store.job.apply({ type: "suspect", limit: 5 }, job.slot, 4, 3);
        check();
        job = plan(store, "suspect", 1);
        store.job.apply({ type: "failed-alone", reason: "x" }, job.slot, 1, 4); // set aside at once
        check();
        store.merge("users", [{ user_id: "u0", metadata: { again: true } }, { user_id: "u15" }], 2000, 5);
        check();
        job = plan(store, "suspect", 10);
        store.job.apply({ type: "release" }, job.slot, 4, 6);
        job = plan(store, "suspect", 10);
        store.job.apply({ type: "settle" }, job.slot, 4, 7);
        check();
        store.setAside.redrive({ all: true }, 10, 30);
        check();
        store.backlog.purge(Number.POSITIVE_INFINITY);
        check();
        expect(store.lanes.counts().pending.users).toBeGreaterThan(0);
      });
    });

    test("a store from the first release is upgraded in place: its job in flight settles, its dead letters can be redriven", async () => {
      await inStore("upgrade", (storage) => {
        const sql = storage.sql;
        for (
          const table of [
            "rows",
            "inflight",
            "job_slot",
            "dead_letters",
            "set_aside",
            "lane_counts",
            "events",
            "deletions",
            "fingerprints",
            "audit",
            "alerts",
            "alert_outbox",
            "meta",
          ]
        ) {
          sql.exec(`DROP TABLE IF EXISTS ${table}`);
        }
        // The schema, job in flight and dead letter as the first release wrote them.
        sql.exec(`CREATE TABLE rows (kind TEXT NOT NULL, id TEXT NOT NULL, fields TEXT NOT NULL,
          sent TEXT NOT NULL DEFAULT '{}', pending_since INTEGER, settled_at INTEGER,
          attempts INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (kind, id))`);
        sql.exec(`CREATE TABLE inflight (kind TEXT NOT NULL, id TEXT NOT NULL, sent TEXT NOT NULL,
          PRIMARY KEY (kind, id))`);
        sql.exec(`CREATE TABLE job_slot (slot INTEGER PRIMARY KEY CHECK (slot = 1), kind TEXT NOT NULL,
          phase TEXT NOT NULL, job_id TEXT, submitted_at INTEGER NOT NULL, rows INTEGER NOT NULL, last_poll TEXT)`);
        sql.exec(`CREATE TABLE dead_letters (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
          id TEXT NOT NULL, row TEXT NOT NULL, reason TEXT NOT NULL, attempts INTEGER NOT NULL, failed_at INTEGER NOT NULL)`);
        sql.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
        const field = (value: unknown, ts: number) => [value, ts];
        for (const id of ["a", "b"]) {
          sql.exec(
            "INSERT INTO rows (kind, id, fields, sent, pending_since) VALUES ('users', ?, ?, '{}', 1)",
            id,
            JSON.stringify({ "@": field(null, 1000), "m:plan": field("free", 1000) }),
          );
          sql.exec(
            "INSERT INTO inflight (kind, id, sent) VALUES ('users', ?, ?)",
            id,
            JSON.stringify({ "@": 1000, "m:plan": 1000 }),
          );
        }
        sql.exec("INSERT INTO job_slot VALUES (1, 'users', 'running', 'j1', 1, 2, NULL)");
        sql.exec(
          "INSERT INTO dead_letters (kind, id, row, reason, attempts, failed_at) VALUES ('users', 'dl', ?, 'old', 5, 500)",
          JSON.stringify({ user_id: "dl", metadata: { plan: "pro" } }),
        );

        const store = new DeliveryStore(storage, Date.now());
        expect(store.meta.get("schema_version")).toBe(String(SCHEMA_VERSION));
        // The running job carried over into the policy's state.
        const slot = store.job.slot(() => initialSlotState(config));
        expect(slot.kind).toBe("users");
        expect(slot.state.job).toMatchObject({ jobId: "j1", rows: 2, lane: "fresh" });
        // After the upgrade, "a" changes while the old job is still running.
        store.merge("users", [{ user_id: "a", metadata: { plan: "pro" } }], 2000, 2);
        expect(store.job.apply({ type: "settle" }, slot, 4, 3)).toBe(2);
        expect(store.lanes.candidates("fresh", 10)!.candidates.map((c) => c.row)).toEqual([
          { user_id: "a", metadata: { plan: "pro" } },
        ]);
        // The dead letter is a row set aside now, and goes back into the backlog on redrive.
        expect(store.setAside.list({ limit: 10 }).rows).toEqual([
          expect.objectContaining({ id: "dl", reason: "old", attempts: 5 }),
        ]);
        expect(store.setAside.redrive({ seqs: [1] }, 10, 30)).toBe(1);
        expect(store.lanes.counts()).toMatchObject({ pending: { users: 2 }, suspects: 1 });
        // Opening the upgraded store again changes nothing.
        expect(new DeliveryStore(storage, Date.now()).lanes.counts()).toMatchObject({
          pending: { users: 2 },
        });
      });
    });
  });
}
