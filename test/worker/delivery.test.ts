import { abortAllDurableObjects, reset, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, test } from "vitest";
import type { QueueMessageBody } from "../../src/worker/messages.ts";
import { PendingStore } from "../../src/worker/pending-store.ts";
import { deliveryStub, drained, type Profile, sandbox } from "./helpers.ts";

type Stats = {
  jobs: { created: number; completed: number; failed: number };
  statuses: Record<string, number>;
};
type Row = QueueMessageBody["rows"][number];

const message = (
  rows: Row[],
  receivedAt = Date.now(),
  kind: "users" | "companies" = "users",
): QueueMessageBody => ({
  kind,
  receivedAt,
  rows,
});

beforeEach(async () => {
  await reset();
  await sandbox("/__sandbox/reset", {});
  await sandbox("/__sandbox/config", { rowsPerMinute: 600_000, queueMs: 5 });
});

function profiles(kind = "users"): Promise<Profile[]> {
  return sandbox<Profile[]>(`/__sandbox/${kind}`);
}

describe("delivery", () => {
  test("rows are merged by id (a later null is kept) and delivered in one job", async () => {
    const stub = await deliveryStub();
    await stub.enqueue([
      message([{ user_id: "a", company_id: "c1", metadata: { plan: "free", seats: 1 } }], 1000),
      message([{ user_id: "a", company_id: "c2", metadata: { seats: null, role: "admin" } }, {
        user_id: "b",
      }], 2000),
    ]);
    await drained();
    expect(await profiles()).toEqual([
      { user_id: "a", company_id: "c2", metadata: { plan: "free", role: "admin" } },
      { user_id: "b", metadata: {} },
    ]);
    const stats = await sandbox<Stats>("/__sandbox/stats");
    expect(stats.jobs.created).toBe(1);
  });

  test("an older message arriving late does not undo a newer value", async () => {
    const stub = await deliveryStub();
    await stub.enqueue([message([{ user_id: "a", metadata: { plan: "pro" } }], 2000)]);
    await stub.enqueue([message([{ user_id: "a", metadata: { plan: "free", extra: 1 } }], 1000)]);
    await drained();
    expect(await profiles()).toEqual([{ user_id: "a", metadata: { plan: "pro", extra: 1 } }]);
    // Even after the newer value was delivered, the older one stays dropped.
    await stub.enqueue([message([{ user_id: "a", metadata: { plan: "free" } }], 1500)]);
    await drained();
    expect(await profiles()).toEqual([{ user_id: "a", metadata: { plan: "pro", extra: 1 } }]);
  });

  test("more than 10,000 pending rows go as several jobs, one at a time, each ≤ 10,000 rows", async () => {
    const stub = await deliveryStub();
    const rows = Array.from({ length: 12_500 }, (_, i) => ({ user_id: `u${i}`, metadata: { i } }));
    for (let i = 0; i < rows.length; i += 2500) await stub.enqueue([message(rows.slice(i, i + 2500))]);
    await drained(60_000);
    const stats = await sandbox<Stats & { rows: { received: number } }>("/__sandbox/stats");
    expect(stats.statuses["409"] ?? 0).toBe(0);
    expect(stats.jobs.created).toBe(2);
    expect(stats.rows.received).toBe(12_500);
    expect((await profiles()).length).toBe(12_500);
  });

  test("a row updated while its job runs stays pending with the newer value", async () => {
    await sandbox("/__sandbox/config", { rowsPerMinute: 600, queueMs: 5 }); // 100 ms a row
    const stub = await deliveryStub();
    await stub.enqueue([
      message([{ user_id: "a", metadata: { v: 1 } }, { user_id: "b", metadata: { v: 1 } }], 1000),
    ]);
    await waitFor(async () => (await stub.status()).job?.phase === "running");
    await stub.enqueue([message([{ user_id: "a", metadata: { v: 2 } }], 2000)]);
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
      body: JSON.stringify({ users: Array.from({ length: 30 }, (_, i) => ({ user_id: `other${i}` })) }),
    });
    expect(other.status).toBe(202);
    const stub = await deliveryStub();
    await stub.enqueue([message([{ user_id: "mine" }])]);
    await drained();
    const stats = await sandbox<Stats>("/__sandbox/stats");
    expect(stats.statuses["409"]).toBeGreaterThan(0);
    expect((await profiles()).map((p) => p.user_id)).toContain("mine");
  });

  test("429, 5xx, dropped connections and failed jobs are survived; every profile is the expected merge", async () => {
    await sandbox("/__sandbox/faults", {
      rate429: 0.15,
      retryAfterSeconds: 0,
      rate5xx: 0.15,
      dropRate: 0.15,
      jobFailureRate: 0.2,
    });
    const stub = await deliveryStub();
    const expected = new Map<string, Record<string, unknown>>();
    for (let round = 0; round < 8; round++) {
      const rows = Array.from(
        { length: 40 },
        (_, i) => ({ user_id: `u${(i * 7 + round) % 60}`, metadata: { round, [`k${round % 3}`]: i } }),
      );
      for (const row of rows) expected.set(row.user_id, { ...expected.get(row.user_id), ...row.metadata });
      await stub.enqueue([message(rows, 1000 + round)]);
      if (round % 2 === 1) await drained(60_000);
    }
    const status = await drained(60_000);
    await sandbox("/__sandbox/faults", {});
    const stats = await sandbox<Stats & { faults: Record<string, number> }>("/__sandbox/stats");
    expect(stats.faults["rateLimited"]! + stats.faults["serverErrors"]! + stats.faults["dropped"]!)
      .toBeGreaterThan(0);
    // With MAX_JOB_ATTEMPTS = 3 a row may run out of attempts; it is then a dead letter, not lost.
    // (`recent` lists 20 at most: read every dead letter from the object's own table.)
    const deadIds = await runInDurableObject(
      stub,
      (_, state) =>
        state.storage.sql.exec<{ id: string }>("SELECT id FROM dead_letters").toArray().map((d) => d.id),
    );
    const dead = new Set(deadIds);
    const delivered = new Map((await profiles()).map((p) => [p.user_id!, p.metadata]));
    for (const [id, metadata] of expected) {
      if (!dead.has(id)) expect(delivered.get(id), id).toEqual(metadata);
    }
    expect(status.deadLetters.count).toBe(deadIds.length);
  });

  test("a job that keeps failing moves its rows to dead letters after MAX_JOB_ATTEMPTS", async () => {
    await sandbox("/__sandbox/faults", { jobFailureRate: 1 });
    const stub = await deliveryStub();
    await stub.enqueue([message([{ user_id: "doomed", metadata: { plan: "pro" } }])]);
    const status = await drained();
    expect(status.deadLetters.count).toBe(1);
    expect(status.deadLetters.recent[0]).toMatchObject({ kind: "users", id: "doomed", attempts: 3 });
    expect(status.lastError?.message).toMatch(/failed/);
    expect((await sandbox<Stats>("/__sandbox/stats")).jobs.failed).toBe(3);
  });

  test("a 400 halves the job down to the refused row; refusals of everything are not dead-lettered", async () => {
    await sandbox("/__sandbox/faults", { rejectRate: 1 });
    const stub = await deliveryStub();
    await stub.enqueue([message(Array.from({ length: 8 }, (_, i) => ({ user_id: `r${i}` })))]);
    await waitFor(async () =>
      (await stub.status()).deadLetters.count >= 3 && (await stub.status()).lastError !== null
    );
    // Let several more refusals happen: they must not dead-letter the rest of the backlog.
    await waitFor(async () => (await sandbox<Stats>("/__sandbox/stats")).statuses["400"]! >= 12);
    const refused = await stub.status();
    expect(refused.deadLetters.count).toBe(3);
    expect(refused.pending.users).toBe(5);
    expect(refused.lastError?.message).toMatch(/answered 400 \(invalid_row\)/);
    expect(refused.lastError?.message).not.toMatch(/injected/); // Userpilot's text stays out of status
    await sandbox("/__sandbox/faults", {});
    const status = await drained();
    expect(status.deadLetters.count).toBe(3);
    expect((await profiles()).length).toBe(5);
  });

  test("a restart mid-poll resumes the same job; nothing is sent twice", async () => {
    await sandbox("/__sandbox/config", { rowsPerMinute: 3000, queueMs: 5 }); // 20 ms a row
    const stub = await deliveryStub();
    await stub.enqueue([
      message(Array.from({ length: 25 }, (_, i) => ({ user_id: `r${i}`, metadata: { i } }))),
    ]);
    await waitFor(async () => (await stub.status()).job?.phase === "running");
    await abortAllDurableObjects();
    const status = await drained();
    expect(status.deadLetters, JSON.stringify(status)).toMatchObject({ count: 0 });
    expect((await profiles()).length).toBe(25);
    const stats = await sandbox<Stats & { rows: { received: number } }>("/__sandbox/stats");
    expect(stats.jobs.created).toBe(1);
    expect(stats.rows.received).toBe(25);
  });

  test("a job still running long after its time is given up and its rows submitted again", async () => {
    await sandbox("/__sandbox/config", { rowsPerMinute: 1, queueMs: 5 }); // a job that will not end
    const stub = await deliveryStub();
    await stub.enqueue([message([{ user_id: "late", metadata: { plan: "pro" } }])]);
    await waitFor(async () => (await stub.status()).job?.phase === "running");
    // Age the job past its allowance (three times its rows at ROWS_PER_MINUTE, at least 15 minutes).
    await runInDurableObject(stub, async (_, state) => {
      state.storage.sql.exec("UPDATE job_slot SET submitted_at = submitted_at - ?", 16 * 60_000);
      await state.storage.setAlarm(Date.now());
    });
    // The object gives up on the job and submits the row again: Userpilot, still busy with the
    // stuck job, answers 409, which is waited out like any other.
    await waitFor(async () => ((await sandbox<Stats>("/__sandbox/stats")).statuses["409"] ?? 0) > 0);
    // Userpilot frees its slot (the stuck job is gone): the resubmitted row is delivered.
    await sandbox("/__sandbox/reset", {});
    await sandbox("/__sandbox/config", { rowsPerMinute: 600_000, queueMs: 5 });
    const status = await drained();
    expect(status.deadLetters.count).toBe(0);
    expect(await profiles()).toEqual([{ user_id: "late", metadata: { plan: "pro" } }]);
    expect((await sandbox<Stats>("/__sandbox/stats")).jobs.created).toBe(1);
  });

  test("a restart between recording a job and hearing back from Userpilot resubmits it", async () => {
    const stub = await deliveryStub();
    // Freeze the object in the moment after it chose the rows and before the POST was answered.
    await runInDurableObject(stub, (_, state) => {
      const store = new PendingStore(state.storage);
      store.merge("users", [{ user_id: "s1", metadata: { x: 1 } }], 1000, Date.now());
      const next = store.candidates(10_000)!;
      store.begin(next.kind, next.candidates, Date.now());
    });
    await abortAllDurableObjects();
    await runInDurableObject(await deliveryStub(), (_, state) => state.storage.setAlarm(Date.now()));
    await drained();
    expect(await profiles()).toEqual([{ user_id: "s1", metadata: { x: 1 } }]);
  });

  test("companies are delivered through their own endpoint", async () => {
    const stub = await deliveryStub();
    await stub.enqueue([
      message([{ company_id: "acme", metadata: { plan: "enterprise" } }], 1000, "companies"),
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
