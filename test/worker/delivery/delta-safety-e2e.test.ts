import { reset } from "cloudflare:test";
import { beforeEach, describe, expect, test } from "vitest";
import type { User } from "../../../mod.ts";
import type { QueueMessageBody } from "../../../src/worker/queue-message.ts";
import { ADMIN_KEY, call, deliveryStub, drained, KEY, sandbox } from "../helpers.ts";

/** Delta delivery never holds back what Userpilot may lack, end to end against the sandbox Userpilot. */
const message = (rows: User[]): QueueMessageBody => ({ kind: "users", receivedAt: Date.now(), rows });

beforeEach(async () => {
  await reset();
  await sandbox("/__sandbox/reset", {});
  await sandbox("/__sandbox/config", { rowsPerMinute: 600_000, queueMs: 5 });
});

async function deliver(rows: User[]): Promise<void> {
  await (await deliveryStub()).enqueue([message(rows)]);
  await drained();
}

describe("delta delivery keeps what Userpilot may lack, end to end", () => {
  test("after the admin route forgets a profile, a null removing a property Userpilot has still reaches it", async () => {
    await deliver([{ user_id: "alice", metadata: { plan: "pro", trial: "yes" } }]);
    const forgot = await call("/v1/admin/fingerprints/forget", {
      method: "POST",
      headers: { Authorization: `Bearer ${ADMIN_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ all: true }),
    });
    expect(await forgot.json()).toEqual({ forgotten: 1 });
    await deliver([{ user_id: "alice", metadata: { trial: null } }]);
    // Userpilot must no longer have trial.
    expect(await sandbox("/__sandbox/users/alice")).toEqual({ user_id: "alice", metadata: { plan: "pro" } });
  });

  test("a job that fails part-way applied its first rows; a change back merged meanwhile is then left out", async () => {
    await deliver([{ user_id: "alice", metadata: { plan: "pro" } }]);
    // The next job is slow to start and fails at its second row (Userpilot applies rows in order).
    await sandbox("/__sandbox/config", { rowsPerMinute: 600_000, queueMs: 400 });
    await sandbox("/__sandbox/faults", { failIds: ["poison"] });
    const stub = await deliveryStub();
    await stub.enqueue([message([{ user_id: "alice", metadata: { plan: "free" } }, { user_id: "poison" }])]);
    for (let i = 0; i < 200 && (await stub.status()).job?.phase !== "running"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // While that job is queued, alice changes back.
    await stub.enqueue([message([{ user_id: "alice", metadata: { plan: "pro" } }])]);
    // Wait until alice's row is no longer pending (only the poison row, alone, keeps failing).
    for (let i = 0; i < 500; i++) {
      const status = await stub.status();
      if (status.pending.users <= 1 && status.suspects <= 1 && status.rowsUnchanged >= 1) break;
      const got = await sandbox<{ metadata: Record<string, unknown> }>("/__sandbox/users/alice");
      if (got.metadata["plan"] === "pro" && status.pending.users <= 1) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await sandbox("/__sandbox/faults", {});
    await drained(30_000);
    expect((await stub.status()).rowsUnchanged).toBe(0); // nothing of the failed job counted: "pro" went
    // The last value accepted for alice is "pro": Userpilot must end with it.
    expect(await sandbox("/__sandbox/users/alice")).toEqual({ user_id: "alice", metadata: { plan: "pro" } });
  });

  test("a DELETE runs at Userpilot's daily deletion job: values delivered between the forward and that job are wiped, then left out", async () => {
    const alice: User = { user_id: "alice", metadata: { plan: "pro" } };
    await deliver([alice]);
    const deleted = await call("/v1/users", {
      method: "DELETE",
      headers: {
        "Content-Type": "application/json",
        Authorization: `Token ${KEY}`,
        "X-API-Version": "2020-09-22",
      },
      body: JSON.stringify({ users: ["alice"] }),
    });
    expect(deleted.status).toBe(202);
    await drained(); // the delete is forwarded: Userpilot schedules it for its daily job
    // Alice signs up again the same day: her identify is delivered (fingerprints recorded).
    await deliver([alice]);
    expect(await sandbox("/__sandbox/users/alice")).toEqual(alice);
    // Userpilot's daily deletion job runs (about 02:00 UTC) and deletes alice, values and all.
    await sandbox("/__sandbox/run-deletions", {});
    // Next morning she identifies again with the same values.
    await deliver([alice]);
    expect(await sandbox("/__sandbox/users/alice")).toEqual(alice);
  });
});
