import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import type { User } from "../../mod.ts";
import { PendingStore } from "../../src/worker/pending-store.ts";

/** A Durable Object of its own for each test, so no alarm or other test touches its store. */
function isolated(name: string) {
  return env.DELIVERY.get(env.DELIVERY.idFromName(`pending-store-test:${name}`));
}

/** A user with a dozen long metadata keys: a 10,000-row job of these carries about 4 MB of field times. */
function wideUser(i: number, value: string): User {
  const metadata: Record<string, string | number> = {};
  for (let k = 0; k < 12; k++) metadata[`attribute_with_a_fairly_long_name_${k}`] = `${value}-${i}-${k}`;
  return { user_id: `user-${i}`, metadata };
}

describe("PendingStore", () => {
  test("a 10,000-row job of wide rows settles in bulk; rows updated meanwhile keep exactly their newer fields", async () => {
    await runInDurableObject(isolated("bulk"), (_, state) => {
      const store = new PendingStore(state.storage);
      // Fractional acceptance stamps, as the Worker makes them: they must survive SQLite exactly.
      const first = 1_764_000_000_000.123;
      const rows = Array.from({ length: 10_000 }, (_, i) => wideUser(i, "old"));
      store.merge("users", rows, first, 0);
      const planned = store.candidates(10_000)!;
      expect(planned.candidates).toHaveLength(10_000);
      store.begin(planned.kind, planned.candidates, 1);

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

      expect(store.complete(3)).toBe(10_000);
      expect(store.slot()).toBeUndefined();
      // Only user-7 is left, carrying only what changed after its job was planned.
      const next = store.candidates(10_000)!;
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
      expect(store.pendingCount()).toBe(1);
    });
  });

  test("a row whose fields another writer changed mid-job (say an older version, after a rollback) stays pending", async () => {
    await runInDurableObject(isolated("foreign-writer"), (_, state) => {
      const store = new PendingStore(state.storage);
      store.merge("users", [{ user_id: "a", metadata: { plan: "free" } }], 1000, 0);
      const planned = store.candidates(10)!;
      store.begin(planned.kind, planned.candidates, 1);
      // The first release's merge: it rewrites `fields` and knows nothing of `rev`.
      state.storage.sql.exec(
        "UPDATE rows SET fields = ? WHERE kind = 'users' AND id = 'a'",
        JSON.stringify({ "@": [null, 2000], "m:plan": ["pro", 2000] }),
      );
      store.complete(3);
      expect(store.candidates(10)!.candidates.map((c) => c.row)).toEqual([
        { user_id: "a", metadata: { plan: "pro" } },
      ]);
    });
  });

  test("a row that merges past SQLite's 2 MB row limit is dead-lettered alone; the rest of the batch merges", async () => {
    await runInDurableObject(isolated("too-big"), (_, state) => {
      const store = new PendingStore(state.storage);
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
      store.merge("users", [part(200), { user_id: "small", metadata: { plan: "pro" } }], 1002, 1);
      const status = store.status();
      expect(status.deadLetters.count).toBe(1);
      expect(status.deadLetters.recent[0]).toMatchObject({ id: "big" });
      expect(status.deadLetters.recent[0]!.reason).toMatch(/too large/);
      const pending = store.candidates(10)!.candidates;
      expect(pending.map((c) => c.id).sort()).toEqual(["big", "small"]);
      // What was stored before stays as it was: the first 200 keys.
      expect(Object.keys(pending.find((c) => c.id === "big")!.row.metadata!)).toHaveLength(200);
    });
  });

  test("a store created before the rev columns is upgraded in place; its job in flight settles field by field", async () => {
    await runInDurableObject(isolated("upgrade"), (_, state) => {
      const sql = state.storage.sql;
      // The schema and in-flight job as the first release wrote them.
      sql.exec("DROP TABLE IF EXISTS rows");
      sql.exec("DROP TABLE IF EXISTS inflight");
      sql.exec(`CREATE TABLE rows (kind TEXT NOT NULL, id TEXT NOT NULL, fields TEXT NOT NULL,
        sent TEXT NOT NULL DEFAULT '{}', pending_since INTEGER, settled_at INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (kind, id))`);
      sql.exec(`CREATE TABLE inflight (kind TEXT NOT NULL, id TEXT NOT NULL, sent TEXT NOT NULL,
        PRIMARY KEY (kind, id))`);
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
      sql.exec(
        `CREATE TABLE IF NOT EXISTS job_slot (slot INTEGER PRIMARY KEY CHECK (slot = 1), kind TEXT NOT NULL,
        phase TEXT NOT NULL, job_id TEXT, submitted_at INTEGER NOT NULL, rows INTEGER NOT NULL, last_poll TEXT)`,
      );
      sql.exec("INSERT OR REPLACE INTO job_slot VALUES (1, 'users', 'running', 'j1', 1, 2, NULL)");

      const store = new PendingStore(state.storage);
      // After the upgrade, "a" changes while the old job is still running.
      store.merge("users", [{ user_id: "a", metadata: { plan: "pro" } }], 2000, 2);
      expect(store.complete(3)).toBe(2);
      const next = store.candidates(10)!;
      expect(next.candidates.map((c) => c.row)).toEqual([{ user_id: "a", metadata: { plan: "pro" } }]);
      expect(store.pendingCount()).toBe(1);
      // Opening the upgraded store again changes nothing.
      expect(new PendingStore(state.storage).pendingCount()).toBe(1);
    });
  });
});
