import { reset, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, inject, test } from "vitest";
import { chooseSeed } from "../../support/seed.ts";
import type { User } from "../../../mod.ts";
import type { QueueMessageBody } from "../../../src/worker/queue-message.ts";
import { DeliveryStore } from "../../../src/worker/store/index.ts";
import { deliveryStub, drained, type Profile, restart, sandbox } from "../helpers.ts";

type Stats = {
  jobs: { created: number; completed: number; failed: number };
  statuses: Record<string, number>;
  rows: { received: number; applied: number };
};
type Row = Extract<QueueMessageBody, { rows: unknown }>["rows"][number];

// BACKOFF_MAX_MS is 200 ms in these tests (vitest.config.ts) against 60,000 ms in production: time
// here runs about 300 times faster, so 6 s stand for a 30-minute outage.
const ACCELERATION = 300;

/**
 * A base for the tests' acceptance stamps: real times, as the Worker makes them (the object sets
 * aside a message that arrives hours after it was accepted), offset to order the updates.
 */
const T0 = Date.now() - 60_000;

const message = (
  rows: Row[],
  receivedAt = Date.now(),
  kind: "users" | "companies" = "users",
): QueueMessageBody => ({ kind, receivedAt, rows });

const users = (prefix: string, n: number): User[] =>
  Array.from({ length: n }, (_, i) => ({ user_id: `${prefix}${i}`, metadata: { i } }));

beforeEach(async () => {
  await reset();
  await sandbox("/__sandbox/reset", {});
  await sandbox("/__sandbox/config", { rowsPerMinute: 600_000, queueMs: 5 });
});

function profiles(kind = "users"): Promise<Profile[]> {
  return sandbox<Profile[]>(`/__sandbox/${kind}`);
}

/** Every row set aside, from the object's own table (the status lists the 20 latest). */
async function setAsideIds(): Promise<string[]> {
  return await runInDurableObject(
    await deliveryStub(),
    (_, state) =>
      state.storage.sql.exec<{ id: string }>("SELECT id FROM set_aside").toArray().map((r) => r.id),
  );
}

/**
 * Keep other traffic flowing (one new user every 50 ms) until `done`, bounded: a row is set aside
 * only while other jobs complete. Returns the users sent.
 */
async function trafficUntil(done: () => Promise<boolean>, timeoutMs = 30_000): Promise<string[]> {
  const stub = await deliveryStub();
  const sent: string[] = [];
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    const id = `traffic${sent.length}`;
    await stub.enqueue([message([{ user_id: id }])]);
    sent.push(id);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return sent;
}

async function expectDelivered(ids: Iterable<string>): Promise<void> {
  const delivered = new Set((await profiles()).map((p) => p.user_id));
  const missing = [...ids].filter((id) => !delivered.has(id));
  expect(missing).toEqual([]);
}

describe("delivery", () => {
  test("rows are merged by id (a later null is kept) and delivered in one job", async () => {
    const stub = await deliveryStub();
    await stub.enqueue([
      message([{ user_id: "a", company_id: "c1", metadata: { plan: "free", seats: 1 } }], T0 + 1000),
      message([{ user_id: "a", company_id: "c2", metadata: { seats: null, role: "admin" } }, {
        user_id: "b",
      }], T0 + 2000),
    ]);
    await drained();
    expect(await profiles()).toEqual([
      { user_id: "a", company_id: "c2", metadata: { plan: "free", role: "admin" } },
      { user_id: "b", metadata: {} },
    ]);
    expect((await sandbox<Stats>("/__sandbox/stats")).jobs.created).toBe(1);
  });

  test("an older message arriving late does not undo a newer value", async () => {
    const stub = await deliveryStub();
    await stub.enqueue([message([{ user_id: "a", metadata: { plan: "pro" } }], T0 + 2000)]);
    await stub.enqueue([message([{ user_id: "a", metadata: { plan: "free", extra: 1 } }], T0 + 1000)]);
    await drained();
    expect(await profiles()).toEqual([{ user_id: "a", metadata: { plan: "pro", extra: 1 } }]);
    // Even after the newer value was delivered, the older one stays dropped.
    await stub.enqueue([message([{ user_id: "a", metadata: { plan: "free" } }], T0 + 1500)]);
    await drained();
    expect(await profiles()).toEqual([{ user_id: "a", metadata: { plan: "pro", extra: 1 } }]);
  });

  test("more than 10,000 pending rows go as several jobs, one at a time, each ≤ 10,000 rows", async () => {
    const stub = await deliveryStub();
    const rows = users("u", 12_500);
    for (let i = 0; i < rows.length; i += 2500) await stub.enqueue([message(rows.slice(i, i + 2500))]);
    await drained(60_000);
    const stats = await sandbox<Stats>("/__sandbox/stats");
    expect(stats.statuses["409"] ?? 0).toBe(0);
    expect(stats.jobs.created).toBe(2);
    expect(stats.rows.received).toBe(12_500);
    expect((await profiles()).length).toBe(12_500);
  });

  test("a row updated while its job runs stays pending with the newer value", async () => {
    await sandbox("/__sandbox/config", { rowsPerMinute: 600, queueMs: 5 }); // 100 ms a row
    const stub = await deliveryStub();
    await stub.enqueue([
      message([{ user_id: "a", metadata: { v: 1 } }, { user_id: "b", metadata: { v: 1 } }], T0 + 1000),
    ]);
    await waitFor(async () => (await stub.status()).job?.phase === "running");
    await stub.enqueue([message([{ user_id: "a", metadata: { v: 2 } }], T0 + 2000)]);
    await drained();
    expect(await profiles()).toEqual([
      { user_id: "a", metadata: { v: 2 } },
      { user_id: "b", metadata: { v: 1 } },
    ]);
    expect((await sandbox<Stats>("/__sandbox/stats")).jobs.created).toBe(2);
  });

  test("a 409 from a job started elsewhere is waited out", async () => {
    await sandbox("/__sandbox/config", { rowsPerMinute: 6000, queueMs: 5 });
    const other = await env.USERPILOT!.fetch("http://userpilot.localhost/v1/users/bulk_identify", {
      method: "POST",
      headers: { Authorization: `Token ${env.USERPILOT_API_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ users: users("other", 30) }),
    });
    expect(other.status).toBe(202);
    const stub = await deliveryStub();
    await stub.enqueue([message([{ user_id: "mine" }])]);
    await drained();
    const stats = await sandbox<Stats>("/__sandbox/stats");
    expect(stats.statuses["409"]).toBeGreaterThan(0);
    expect((await profiles()).map((p) => p.user_id)).toContain("mine");
  });

  test("a 30-minute Userpilot outage with traffic during it: every accepted row is delivered, none set aside", async () => {
    const seed = chooseSeed("worker/delivery.test.ts outage faults", 30, inject("testSeedOverride"));
    await sandbox("/__sandbox/faults", { jobFailureRate: 1, rate5xx: 0.5, seed });
    const stub = await deliveryStub();
    const accepted = new Map<string, Record<string, unknown>>();
    const outageEnds = Date.now() + (30 * 60_000) / ACCELERATION;
    for (let round = 0; Date.now() < outageEnds; round++) {
      const rows = Array.from({ length: 25 }, (_, i) => ({
        user_id: `u${(i * 7 + round) % 200}`,
        metadata: { round, [`k${round % 4}`]: i },
      }));
      for (const row of rows) accepted.set(row.user_id, { ...accepted.get(row.user_id), ...row.metadata });
      await stub.enqueue([message(rows, T0 + 1000 + round)]);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const during = await stub.status();
    expect(during.lastError).not.toBeNull();
    expect(during.setAside.count).toBe(0);
    await sandbox("/__sandbox/faults", {});
    const status = await drained(60_000);
    expect(status.setAside.count).toBe(0);
    expect(await setAsideIds()).toEqual([]);
    const delivered = new Map((await profiles()).map((p) => [p.user_id!, p.metadata]));
    for (const [id, metadata] of accepted) expect(delivered.get(id), id).toEqual(metadata);
    expect((await sandbox<Stats>("/__sandbox/stats")).jobs.failed).toBeGreaterThan(10);
  });

  test("429, 5xx, dropped connections and failed jobs together: every profile is the expected merge", async () => {
    const seed = chooseSeed("worker/delivery.test.ts mixed faults", 7, inject("testSeedOverride"));
    await sandbox("/__sandbox/faults", {
      rate429: 0.15,
      retryAfterSeconds: 0,
      rate5xx: 0.15,
      dropRate: 0.15,
      jobFailureRate: 0.2,
      seed,
    });
    const stub = await deliveryStub();
    const expected = new Map<string, Record<string, unknown>>();
    for (let round = 0; round < 8; round++) {
      const rows = Array.from(
        { length: 40 },
        (_, i) => ({ user_id: `u${(i * 7 + round) % 60}`, metadata: { round, [`k${round % 3}`]: i } }),
      );
      for (const row of rows) expected.set(row.user_id, { ...expected.get(row.user_id), ...row.metadata });
      await stub.enqueue([message(rows, T0 + 1000 + round)]);
      if (round % 2 === 1) await drained(60_000);
    }
    const status = await drained(60_000);
    await sandbox("/__sandbox/faults", {});
    expect(status.setAside.count).toBe(0);
    const delivered = new Map((await profiles()).map((p) => [p.user_id!, p.metadata]));
    for (const [id, metadata] of expected) expect(delivered.get(id), id).toEqual(metadata);
  });

  test("a poison row inside a 10,000-row job is cornered and set aside; every other row is delivered", async () => {
    await sandbox("/__sandbox/config", { rowsPerMinute: 6_000_000, queueMs: 5 }); // 10,000 rows in 100 ms
    await sandbox("/__sandbox/faults", { failIds: ["u6137"] });
    const stub = await deliveryStub();
    const rows = users("u", 10_000);
    await stub.enqueue([message(rows.slice(0, 5000)), message(rows.slice(5000))]);
    const traffic = await trafficUntil(async () => (await stub.status()).setAside.count > 0, 45_000);
    await drained(30_000);
    expect(await setAsideIds()).toEqual(["u6137"]);
    const [aside] = (await stub.listSetAside({ limit: 10 })).rows;
    expect(aside).toMatchObject({
      id: "u6137",
      row: { user_id: "u6137", metadata: { i: 6137 } },
      attempts: 4,
    });
    expect(aside!.reason).toMatch(/failed alone/);
    await expectDelivered([...rows.map((r) => r.user_id).filter((id) => id !== "u6137"), ...traffic]);
    // Userpilot is fixed: the operator redrives it, and it arrives.
    await sandbox("/__sandbox/faults", {});
    expect(await stub.redrive({ all: true })).toBe(1);
    await drained();
    expect(await sandbox("/__sandbox/users/u6137")).toEqual({ user_id: "u6137", metadata: { i: 6137 } });
  });

  test("a one-row 413 is set aside, with backoff, and never holds up the backlog", async () => {
    await sandbox("/__sandbox/faults", { tooLargeIds: ["huge"] });
    const stub = await deliveryStub();
    await stub.enqueue([message([{ user_id: "huge", metadata: { blob: "x" } }, ...users("r", 20)])]);
    const traffic = await trafficUntil(async () => (await stub.status()).setAside.count > 0);
    await drained();
    expect(await setAsideIds()).toEqual(["huge"]);
    expect((await stub.listSetAside({ limit: 1 })).rows[0]!.reason).toMatch(/413 to this row alone/);
    await expectDelivered([...users("r", 20).map((r) => r.user_id), ...traffic]);
    // Split down to one row, then a handful of solo tries: no tight loop.
    expect((await sandbox<Stats>("/__sandbox/stats")).statuses["413"]).toBeLessThan(30);
  });

  test("five rows Userpilot refuses, one after another, are set aside; delivery goes on for everyone else", async () => {
    const refused = ["r10", "r11", "r12", "r13", "r14"];
    await sandbox("/__sandbox/faults", { refuseIds: refused });
    const stub = await deliveryStub();
    await stub.enqueue([message(users("r", 40))]);
    const traffic = await trafficUntil(async () => (await stub.status()).setAside.count === 5, 45_000);
    await drained();
    expect((await setAsideIds()).sort()).toEqual(refused);
    await expectDelivered([
      ...users("r", 40).map((r) => r.user_id).filter((id) => !refused.includes(id)),
      ...traffic,
    ]);
    const status = await stub.status();
    expect(status.lastError?.message).toMatch(/answered 400 \(invalid_row\)/);
    expect(status.lastError?.message).not.toMatch(/injected/); // Userpilot's text stays out of status
  });

  test("when Userpilot refuses everything, nothing is set aside: the backlog waits, and goes when it recovers", async () => {
    await sandbox("/__sandbox/faults", { rejectRate: 1 });
    const stub = await deliveryStub();
    await stub.enqueue([message(users("all", 8))]);
    await waitFor(async () => ((await sandbox<Stats>("/__sandbox/stats")).statuses["400"] ?? 0) >= 15);
    const refusing = await stub.status();
    expect(refusing.setAside.count).toBe(0);
    expect(refusing.pending.users).toBe(8);
    await sandbox("/__sandbox/faults", {});
    const status = await drained();
    expect(status.setAside.count).toBe(0);
    expect((await profiles()).length).toBe(8);
  });

  test("a restart mid-poll resumes the same job; nothing is sent twice", async () => {
    await sandbox("/__sandbox/config", { rowsPerMinute: 3000, queueMs: 5 }); // 20 ms a row
    const stub = await deliveryStub();
    await stub.enqueue([message(users("r", 25))]);
    await waitFor(async () => (await stub.status()).job?.phase === "running");
    await restart(stub);
    const status = await drained();
    expect(status.setAside.count).toBe(0);
    expect((await profiles()).length).toBe(25);
    const stats = await sandbox<Stats>("/__sandbox/stats");
    expect(stats.jobs.created).toBe(1);
    expect(stats.rows.received).toBe(25);
  });

  test("a job still running long after its time is given up and its rows submitted again", async () => {
    await sandbox("/__sandbox/config", { rowsPerMinute: 1, queueMs: 5 }); // a job that will not end
    const stub = await deliveryStub();
    await stub.enqueue([message([{ user_id: "late", metadata: { plan: "pro" } }])]);
    await waitFor(async () => (await stub.status()).job?.phase === "running");
    // Age the job past its allowance (three times its rows at ROWS_PER_MINUTE, at least 15 minutes).
    // Again while it is not given up: a poll in flight when the slot is edited saves its own copy.
    const age = () =>
      runInDurableObject(stub, async (_, state) => {
        const store = new DeliveryStore(state.storage, Date.now());
        const slot = JSON.parse(store.meta.get("slot")!);
        if (slot.state.job === null || Date.now() - slot.state.job.submittedAt > 15 * 60_000) return;
        slot.state.job.submittedAt -= 16 * 60_000;
        store.meta.set("slot", JSON.stringify(slot));
        await state.storage.setAlarm(Date.now());
      });
    // The object gives up on the job and submits the row again: Userpilot, still busy with the
    // stuck job, answers 409, which is waited out like any other.
    await waitFor(async () => {
      await age();
      return ((await sandbox<Stats>("/__sandbox/stats")).statuses["409"] ?? 0) > 0;
    });
    // Userpilot frees its slot (the stuck job is gone): the resubmitted row is delivered.
    await sandbox("/__sandbox/reset", {});
    await sandbox("/__sandbox/config", { rowsPerMinute: 600_000, queueMs: 5 });
    const status = await drained();
    expect(status.setAside.count).toBe(0);
    expect(await profiles()).toEqual([{ user_id: "late", metadata: { plan: "pro" } }]);
    expect((await sandbox<Stats>("/__sandbox/stats")).jobs.created).toBe(1);
  });

  test("a restart between recording a job and hearing back from Userpilot resubmits it", async () => {
    const stub = await deliveryStub();
    // Freeze the object in the moment after it chose the rows and before the POST was answered.
    await runInDurableObject(stub, async (_, state) => {
      const store = new DeliveryStore(state.storage, Date.now());
      store.merge("users", [{ user_id: "s1", metadata: { x: 1 } }], 1000, Date.now());
      const next = store.lanes.candidates("fresh", 10_000)!;
      const { beginJob, initialSlotState } = await import("../../../src/core/delivery-policy.ts");
      const { deliveryConfig } = await import("../../../src/worker/delivery/config.ts");
      const { DEFAULT_TUNING } = await import("../../../src/worker/settings.ts");
      store.job.begin(
        next.kind,
        next.candidates,
        beginJob(initialSlotState(deliveryConfig(DEFAULT_TUNING)), "fresh", 1, 0),
      );
    });
    await restart(stub);
    await runInDurableObject(await deliveryStub(), (_, state) => state.storage.setAlarm(Date.now()));
    await drained();
    expect(await profiles()).toEqual([{ user_id: "s1", metadata: { x: 1 } }]);
  });

  test("companies are delivered through their own endpoint", async () => {
    const stub = await deliveryStub();
    await stub.enqueue([
      message([{ company_id: "acme", metadata: { plan: "enterprise" } }], T0 + 1000, "companies"),
    ]);
    await drained();
    expect(await profiles("companies")).toEqual([{ company_id: "acme", metadata: { plan: "enterprise" } }]);
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
