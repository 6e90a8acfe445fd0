import { reset, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, test } from "vitest";
import type { User } from "../../../mod.ts";
import { SANDBOX_API_KEY } from "../../../src/sandbox/mod.ts";
import { ENTRY_WORDS } from "../../../src/worker/store/delta.ts";
import type { QueueMessageBody } from "../../../src/worker/queue-message.ts";
import { ADMIN_KEY, call, deliveryStub, drained, KEY, sandbox } from "../helpers.ts";

type Stats = { rows: { received: number; applied: number } };

const message = (rows: User[]): QueueMessageBody => ({ kind: "users", receivedAt: Date.now(), rows });

beforeEach(async () => {
  await reset();
  await sandbox("/__sandbox/reset", {});
  await sandbox("/__sandbox/config", { rowsPerMinute: 600_000, queueMs: 5 });
});

/** Enqueue rows, wait for the backlog to drain, and return how many rows Userpilot received in all. */
async function deliver(rows: User[]): Promise<number> {
  const stub = await deliveryStub();
  await stub.enqueue([message(rows)]);
  await drained();
  return (await sandbox<Stats>("/__sandbox/stats")).rows.received;
}

/** Make every fingerprint of the object `ms` older, as if that much time had passed. */
async function age(ms: number): Promise<void> {
  await runInDurableObject(await deliveryStub(), (_, state) => {
    const sql = state.storage.sql;
    for (
      const { key, prints } of sql.exec<{ key: number; prints: ArrayBuffer }>(
        "SELECT key, prints FROM fingerprints",
      ).toArray()
    ) {
      const words = new Uint32Array(prints.slice(0));
      for (let i = ENTRY_WORDS - 1; i < words.length; i += ENTRY_WORDS) words[i] = words[i]! - ms / 1000;
      sql.exec("UPDATE fingerprints SET prints = ? WHERE key = ?", words.buffer, key);
    }
  });
}

function userpilotCall(method: string, path: string, body: unknown): Promise<Response> {
  return call(path, {
    method,
    headers: {
      "Content-Type": "application/json",
      Authorization: `Token ${KEY}`,
      "X-API-Version": "2020-09-22",
    },
    body: JSON.stringify(body),
  });
}

function forget(body: unknown, key = ADMIN_KEY): Promise<Response> {
  return call("/v1/admin/fingerprints/forget", {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

const alice: User = { user_id: "alice", company_id: "acme", metadata: { plan: "pro", seats: 3 } };

describe("delta delivery", () => {
  test("values Userpilot already has are not sent again; the status counts the rows and properties left out", async () => {
    expect(await deliver([alice, { user_id: "bob" }])).toBe(2);
    expect(await deliver([alice, { user_id: "bob" }])).toBe(2);
    const status = await (await deliveryStub()).status();
    expect(status).toMatchObject({ rowsUnchanged: 2, propertiesUnchanged: 3, rowsDelivered: 2 });
    expect(await deliver([{ ...alice, metadata: { plan: "pro", seats: 4 } }])).toBe(3);
    expect(await sandbox("/__sandbox/users/alice")).toEqual({
      user_id: "alice",
      company_id: "acme",
      metadata: { plan: "pro", seats: 4 },
    });
  });

  test("a value changed in Userpilot meanwhile is healed once RESEND_AFTER_HOURS have passed", async () => {
    await deliver([alice]);
    // Someone changes the plan in Userpilot itself (its UI, another integration).
    const drift = await env.USERPILOT!.fetch("http://userpilot.localhost/v1/users/bulk_identify", {
      method: "POST",
      headers: { Authorization: `Token ${SANDBOX_API_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ users: [{ user_id: "alice", metadata: { plan: "free" } }] }),
    });
    expect(drift.status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await deliver([alice]);
    expect(await sandbox("/__sandbox/users/alice")).toMatchObject({ metadata: { plan: "free" } });
    await age(168 * 3_600_000);
    await deliver([alice]);
    expect(await sandbox("/__sandbox/users/alice")).toMatchObject({ metadata: { plan: "pro", seats: 3 } });
  });

  test("the gateway's DELETE forgets the ids: the same values are sent whole afterwards", async () => {
    await deliver([alice]);
    expect((await userpilotCall("DELETE", "/v1/users", { users: ["alice"] })).status).toBe(202);
    await drained();
    await sandbox("/__sandbox/run-deletions", {});
    expect((await env.USERPILOT!.fetch("http://userpilot.localhost/__sandbox/users/alice")).status).toBe(404);
    const before = (await sandbox<Stats>("/__sandbox/stats")).rows.received;
    expect(await deliver([alice])).toBe(before + 1);
    expect(await sandbox("/__sandbox/users/alice")).toEqual({
      user_id: "alice",
      company_id: "acme",
      metadata: { plan: "pro", seats: 3 },
    });
  });

  test("the admin route forgets fingerprints (some ids, or all), forcing a full resend", async () => {
    await deliver([alice, { user_id: "bob", metadata: { plan: "free" } }]);
    expect((await forget({ all: true }, KEY)).status).toBe(401);
    expect((await forget({ kind: "users" })).status).toBe(400);
    expect(await (await forget({ kind: "users", ids: ["bob", "nobody"] })).json()).toEqual({ forgotten: 1 });
    expect(await deliver([alice, { user_id: "bob", metadata: { plan: "free" } }])).toBe(3);
    const all = await forget({ all: true });
    expect(await all.json()).toEqual({ forgotten: 2 });
    expect(await deliver([alice, { user_id: "bob", metadata: { plan: "free" } }])).toBe(5);
  });
});
