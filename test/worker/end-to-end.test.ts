import { createExecutionContext, createMessageBatch, getQueueResult, reset } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import worker, { type QueueMessageBody } from "../../src/worker/index.ts";
import { beforeEach, expect, inject, test, vi } from "vitest";
import { createIngestClient, signPayload } from "../../mod.ts";
import { expectedProfiles } from "../support/in-process.ts";
import { chooseSeed } from "../support/seed.ts";
import {
  call,
  drained,
  KEY,
  post,
  postSigned,
  type Profile,
  sandbox,
  SECRET_NEW,
  SECRET_OLD,
} from "./helpers.ts";

beforeEach(async () => {
  await reset();
  await sandbox("/__sandbox/reset", {});
  await sandbox("/__sandbox/config", { rowsPerMinute: 600_000, queueMs: 5 });
});

type Row = { user_id: string; company_id?: string; metadata?: Record<string, unknown> };

test("a burst of identify calls, repeats included, arrives merged in Userpilot through the real queue", async () => {
  const seed = chooseSeed("worker/end-to-end.test.ts faults", 13, inject("testSeedOverride"));
  await sandbox("/__sandbox/faults", {
    rate429: 0.1,
    retryAfterSeconds: 0,
    rate5xx: 0.1,
    dropRate: 0.1,
    seed,
  });
  const accepted: Row[] = [];
  const calls: Promise<Response>[] = [];
  for (let i = 0; i < 120; i++) {
    const row: Row = { user_id: `user_${i % 25}`, metadata: { plan: ["free", "pro"][i % 2], visits: i } };
    if (i % 10 === 0) row.metadata!["nickname"] = null;
    if (i % 7 === 0) row.company_id = `company_${i % 3}`;
    accepted.push(row);
    calls.push(i % 2 === 0 ? post("/v1/identify", row) : postSigned("/v1/identify", row));
    // Sequential enough that "later" is well defined: each call is accepted before the next is sent.
    expect((await calls[i]!).status).toBe(202);
  }
  const bulk = { users: [{ user_id: "user_1", metadata: { plan: "enterprise" } }, { user_id: "bulk_only" }] };
  expect((await post("/v1/users/bulk_identify", bulk)).status).toBe(202);
  accepted.push(...bulk.users);
  const status = await drained(30_000, accepted.length);
  expect(status.setAside.count).toBe(0);
  await sandbox("/__sandbox/faults", {});
  const users = (await sandbox<Profile[]>("/__sandbox/users")).sort((a, b) =>
    a.user_id!.localeCompare(b.user_id!)
  );
  expect(users).toEqual(expectedProfiles(accepted));
  // Merging cut the rows Userpilot had to process well below the calls made.
  const stats = await sandbox<{ rows: { received: number } }>("/__sandbox/stats");
  expect(stats.rows.received).toBeLessThan(accepted.length);
});

test("pro → free → pro signed within one second from two isolates: all three are accepted and pro wins", async () => {
  const timestamp = Math.floor(Date.now() / 1000);
  for (
    const [id, secret, plan] of [["iso_1", SECRET_NEW, "pro"], ["iso_2", SECRET_OLD, "free"], [
      "iso_3",
      SECRET_NEW,
      "pro",
    ]]
  ) {
    const body = JSON.stringify({ user_id: "flip", metadata: { plan } });
    const headers = await signPayload(secret!, body, { id, timestamp });
    const response = await call("/v1/identify", {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json" },
      body,
    });
    expect(response.status).toBe(202);
  }
  const status = await drained(15_000, 3);
  expect(status.rowsReceived).toBe(3);
  expect(await sandbox("/__sandbox/users/flip")).toEqual({ user_id: "flip", metadata: { plan: "pro" } });
});

test("the same id sent twice is merged once; a retry after a 503 does not overwrite a newer write", async () => {
  const send = (id: string, plan: string) =>
    call("/v1/identify", {
      method: "POST",
      headers: {
        Authorization: `Bearer ${KEY}`,
        "Idempotency-Key": id,
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ user_id: "late_retry", metadata: { plan } }),
    });
  const sendBatch = vi.spyOn(env.INGEST_QUEUE, "sendBatch").mockRejectedValueOnce(new Error("queue down"));
  expect((await send("first", "pro")).status).toBe(503);
  sendBatch.mockRestore();
  expect((await send("second", "free")).status).toBe(202);
  expect((await send("first", "pro")).status).toBe(202); // the retry: stamped when "first" was first claimed
  expect((await send("first", "pro")).headers.get("Idempotent-Replayed")).toBe("true");
  const status = await drained(15_000, 2);
  expect(status.rowsReceived).toBe(2);
  expect(await sandbox("/__sandbox/users/late_retry")).toEqual({
    user_id: "late_retry",
    metadata: { plan: "free" },
  });
});

test("identify with a company shape delivers the company too", async () => {
  expect((await post("/v1/identify", { user_id: "u", company: { id: "acme", plan: "pro" } })).status).toBe(
    202,
  );
  await drained(15_000, 2);
  expect(await sandbox("/__sandbox/companies/acme")).toEqual({
    company_id: "acme",
    metadata: { plan: "pro" },
  });
});

test("messages the queue gave up on (the dead-letter queue) are merged into the backlog and delivered", async () => {
  // The main consumer could not reach the Durable Object for all its retries; the DLQ's consumer
  // hands the same messages over later. Late is not lost: they merge like any other.
  const batch = createMessageBatch<QueueMessageBody>("userpilot-ingest-dlq", [
    {
      id: "m1",
      timestamp: new Date(),
      attempts: 11,
      body: {
        kind: "users",
        receivedAt: Date.now(),
        rows: [{ user_id: "late_1", metadata: { plan: "pro" } }, { user_id: "late_2" }],
      },
    },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  expect((await getQueueResult(batch, ctx)).ackAll).toBe(true);
  const status = await drained(15_000, 2);
  expect(status.setAside.count).toBe(0);
  expect(await sandbox("/__sandbox/users/late_1")).toEqual({ user_id: "late_1", metadata: { plan: "pro" } });
  expect(await sandbox("/__sandbox/users/late_2")).toEqual({ user_id: "late_2", metadata: {} });
});

test("createIngestClient batches a request's identifies into signed POSTs that reach Userpilot", async () => {
  const waits: Promise<unknown>[] = [];
  const client = createIngestClient(
    { url: "https://ingest.example.com", signingSecret: SECRET_OLD },
    { fetch: (request) => exports.default.fetch(request), waitUntil: (promise) => waits.push(promise) },
  );
  client.identify({ user_id: "ic_1", company_id: "ic_co", metadata: { plan: "pro" } });
  client.identify({ user_id: "ic_2" });
  client.identifyCompany({ company_id: "ic_co", metadata: { seats: 12 } });
  expect(await Promise.all(waits)).toEqual([{ sent: 3, failed: 0, pending: 0 }]);
  await drained(15_000, 3);
  expect(await sandbox("/__sandbox/users/ic_1")).toEqual({
    user_id: "ic_1",
    company_id: "ic_co",
    metadata: { plan: "pro" },
  });
  expect(await sandbox("/__sandbox/companies/ic_co")).toEqual({
    company_id: "ic_co",
    metadata: { seats: 12 },
  });
});
