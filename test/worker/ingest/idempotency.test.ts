import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { Webhook } from "standardwebhooks";
import { describe, expect, inject, test, vi } from "vitest";
import { chooseSeed, randomSeed } from "../../support/seed.ts";
import { signPayload } from "../../../mod.ts";
import { guardEntryOf } from "../../../src/worker/ingest/accept.ts";
import { claimRequest, confirmRequest } from "../../../src/worker/ingest/replay-guard.ts";
import { call, captureQueue, KEY, SECRET_NEW, SECRET_OLD, TEST_KEYS } from "../helpers.ts";

// Exactly-once acceptance: a request id (a signed request's webhook-id, a bearer caller's
// Idempotency-Key) is applied once, and only a confirmed acceptance makes a repeat a no-op.

const { sent, queuedRows } = captureQueue();

type Message = { body: { kind: string; receivedAt: number; rows: unknown[] } };
const messages = () => sent.flat() as Message[];

const json = { "Content-Type": "application/json" };
const signedCall = (headers: Record<string, string>, body: string) =>
  call("/v1/identify", { method: "POST", headers: { ...headers, ...json }, body });
const keyed = (key: string, body: string, path = "/v1/identify", credential = KEY) =>
  call(path, {
    method: "POST",
    headers: { Authorization: `Bearer ${credential}`, "Idempotency-Key": key, ...json },
    body,
  });

describe("Standard Webhooks interoperability", () => {
  test("requests signed by the standardwebhooks package are accepted, with either active secret", async () => {
    for (const [secret, user] of [[SECRET_NEW, "sw_new"], [SECRET_OLD, "sw_old"]] as const) {
      const body = JSON.stringify({ user_id: user, metadata: { plan: "pro" } });
      const id = `msg_${user}`;
      const now = new Date();
      const signature = new Webhook(secret).sign(id, now, body);
      const response = await signedCall({
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
        "webhook-signature": signature,
      }, body);
      expect(response.status).toBe(202);
    }
    expect(queuedRows()).toEqual([
      { user_id: "sw_new", metadata: { plan: "pro" } },
      { user_id: "sw_old", metadata: { plan: "pro" } },
    ]);
  });
});

describe("request ids", () => {
  test("identical bodies with different ids in the same second are both accepted and both queued", async () => {
    const body = JSON.stringify({ user_id: "same_second", metadata: { plan: "pro" } });
    const timestamp = Math.floor(Date.now() / 1000);
    const first = await signPayload(SECRET_NEW, body, { id: "msg_a", timestamp });
    const second = await signPayload(SECRET_NEW, body, { id: "msg_b", timestamp });
    expect((await signedCall(first, body)).status).toBe(202);
    expect((await signedCall(second, body)).status).toBe(202);
    expect(queuedRows()).toHaveLength(2);
  });

  test("the same signed id twice is accepted once and queued once; the repeat gets the original 202", async () => {
    const body = JSON.stringify({ user_id: "once" });
    const headers = await signPayload(SECRET_NEW, body, { id: "msg_once" });
    const first = await signedCall(headers, body);
    expect(first.status).toBe(202);
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    // A retry signed afresh (new timestamp, same id) is the same request.
    const resigned = await signPayload(SECRET_OLD, body, {
      id: "msg_once",
      timestamp: Math.floor(Date.now() / 1000) - 5,
    });
    for (const repeat of [headers, resigned]) {
      const response = await signedCall(repeat, body);
      expect(response.status).toBe(202);
      expect(response.headers.get("Idempotent-Replayed")).toBe("true");
      expect(await response.json()).toEqual({ accepted: 1 });
    }
    expect(queuedRows()).toEqual([{ user_id: "once" }]);
  });

  test("a replay with a reordered, partial or re-spaced signature header is refused: nothing is queued again", async () => {
    const body = JSON.stringify({ user_id: "rotated" });
    const id = "msg_rotated";
    const timestamp = Math.floor(Date.now() / 1000);
    const a = (await signPayload(SECRET_NEW, body, { id, timestamp }))["webhook-signature"];
    const b = (await signPayload(SECRET_OLD, body, { id, timestamp }))["webhook-signature"];
    const headers = (signature: string) => ({
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": signature,
    });
    expect((await signedCall(headers(`${a} ${b}`), body)).status).toBe(202);
    for (const variant of [`${b} ${a}`, b, a, `  ${b}   ${a} `, `v2,${a.slice(3)} ${b}`]) {
      const response = await signedCall(headers(variant), body);
      expect(response.headers.get("Idempotent-Replayed"), variant).toBe("true");
    }
    // With another body it is no longer a replay but a forgery: the signature does not match.
    expect((await signedCall(headers(b), body.replace("rotated", "other"))).status).toBe(401);
    expect(queuedRows()).toEqual([{ user_id: "rotated" }]);
  });

  test("a bearer caller's Idempotency-Key: the same key twice queues once", async () => {
    const body = JSON.stringify({ user_id: "keyed" });
    expect((await keyed("order-42", body)).status).toBe(202);
    const repeat = await keyed("order-42", body);
    expect(repeat.status).toBe(202);
    expect(repeat.headers.get("Idempotent-Replayed")).toBe("true");
    expect((await keyed("order-43", body)).status).toBe(202);
    expect(queuedRows()).toEqual([{ user_id: "keyed" }, { user_id: "keyed" }]);
  });

  test("ids are scoped by credential kind: a bearer key and a signed id of the same value do not collide", async () => {
    const body = JSON.stringify({ user_id: "scoped" });
    expect((await keyed("msg_scoped", body)).status).toBe(202);
    expect((await signedCall(await signPayload(SECRET_NEW, body, { id: "msg_scoped" }), body)).status).toBe(
      202,
    );
    expect(queuedRows()).toHaveLength(2);
  });

  test("ids are scoped by credential: one caller's id neither blocks nor reveals another's, and each is applied once", async () => {
    const mine = JSON.stringify({ user_id: "tester-row" });
    const theirs = JSON.stringify({ user_id: "segment-row" });
    const asSegment = (body: string) => keyed("shared-id", body, "/v1/identify", TEST_KEYS.segment);
    expect((await keyed("shared-id", mine)).status).toBe(202);
    // Another credential with the same id and another body: its own request, not a 422 (no claim
    // on the id), and not a replayed 202 (no hint that the id exists).
    const other = await asSegment(theirs);
    expect(other.status).toBe(202);
    expect(other.headers.get("Idempotent-Replayed")).toBeNull();
    // Each repeat is a repeat of its own credential's request only.
    expect((await asSegment(theirs)).headers.get("Idempotent-Replayed")).toBe("true");
    expect((await keyed("shared-id", mine)).headers.get("Idempotent-Replayed")).toBe("true");
    // The same name on the key being rotated out: the same caller, so the same ids.
    expect((await keyed("shared-id", mine, "/v1/identify", TEST_KEYS.old)).headers.get("Idempotent-Replayed"))
      .toBe("true");
    expect(queuedRows()).toEqual([{ user_id: "tester-row" }, { user_id: "segment-row" }]);
  });

  test("the same id with another body or route is a 422, and nothing is queued", async () => {
    expect((await keyed("reused", JSON.stringify({ user_id: "first" }))).status).toBe(202);
    const other = await keyed("reused", JSON.stringify({ user_id: "second" }));
    expect(other.status).toBe(422);
    expect(await other.json()).toMatchObject({ error: "idempotency_key_reused" });
    const elsewhere = await keyed(
      "reused",
      JSON.stringify({ users: [{ user_id: "first" }] }),
      "/v1/users/bulk_identify",
    );
    expect(elsewhere.status).toBe(422);
    expect(queuedRows()).toEqual([{ user_id: "first" }]);
  });

  test("a malformed Idempotency-Key is a 400 naming the header", async () => {
    for (const key of ["", "has space", "x".repeat(256)]) {
      const response = await keyed(key, JSON.stringify({ user_id: "u" }));
      expect(response.status, JSON.stringify(key)).toBe(400);
      expect(await response.json()).toMatchObject({ issues: [{ path: "Idempotency-Key" }] });
    }
    expect(sent).toEqual([]);
  });

  test("an id refused with 400 is processed again when repeated", async () => {
    expect((await keyed("fixed-later", JSON.stringify({ user_id: "" }))).status).toBe(400);
    expect((await keyed("fixed-later", JSON.stringify({ user_id: "" }))).status).toBe(400);
    expect((await keyed("fixed-later", JSON.stringify({ user_id: "fixed" }))).status).toBe(202);
    expect(queuedRows()).toEqual([{ user_id: "fixed" }]);
  });
});

describe("any sequence of repeats", () => {
  test("each id is queued once per acceptance; repeats replay, conflicts and failures queue nothing", async () => {
    let failing = false;
    const capture = vi.mocked(env.INGEST_QUEUE.sendBatch).getMockImplementation()!;
    vi.mocked(env.INGEST_QUEUE.sendBatch).mockImplementation((batch, options) =>
      failing ? Promise.reject(new Error("queue down")) : capture(batch, options)
    );
    const requestArb = fc.record({
      id: fc.constantFrom("a", "b", "c"),
      user: fc.constantFrom("x", "y"),
      signed: fc.boolean(),
      queueDown: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(requestArb, { maxLength: 12 }), async (requests) => {
        const run = crypto.randomUUID(); // a fresh id space for every run
        const accepted = new Map<string, string>(); // scoped id → the user its body named
        let expectedRows = 0;
        sent.length = 0;
        for (const { id, user, signed, queueDown } of requests) {
          const requestId = `${run}-${id}`;
          const body = JSON.stringify({ user_id: user });
          failing = queueDown;
          const response = signed
            ? await signedCall(await signPayload(SECRET_NEW, body, { id: requestId }), body)
            : await keyed(requestId, body);
          const scoped = `${signed}:${requestId}`;
          const before = accepted.get(scoped);
          const expected = before === undefined ? (queueDown ? 503 : 202) : before === user ? 202 : 422;
          expect(response.status).toBe(expected);
          expect(response.headers.get("Idempotent-Replayed")).toBe(before === user ? "true" : null);
          if (before === undefined && !queueDown) {
            accepted.set(scoped, user);
            expectedRows++;
          }
          expect(queuedRows()).toHaveLength(expectedRows);
        }
      }),
      {
        numRuns: 25,
        seed: chooseSeed("worker/idempotency.test.ts fast-check", randomSeed(), inject("testSeedOverride")),
      },
    );
  });
});

describe("failures before queueing", () => {
  test("a queue outage releases the id: the retry is processed, keeps its first stamp, and then counts once", async () => {
    const body = JSON.stringify({ user_id: "retry_me", metadata: { plan: "pro" } });
    const headers = await signPayload(SECRET_NEW, body, { id: "msg_retry" });
    vi.mocked(env.INGEST_QUEUE.sendBatch).mockRejectedValueOnce(new Error("queue down"));
    const before = Date.now();
    const failed = await signedCall(headers, body);
    expect(failed.status).toBe(503);
    expect(failed.headers.get("Retry-After")).toBe("1");
    expect(sent).toEqual([]);
    // A newer write for the same user lands before the retry.
    expect((await keyed("newer", JSON.stringify({ user_id: "retry_me", metadata: { plan: "free" } }))).status)
      .toBe(202);
    expect((await signedCall(headers, body)).status).toBe(202);
    expect((await signedCall(headers, body)).headers.get("Idempotent-Replayed")).toBe("true");
    const [newer, retried] = messages();
    expect(retried!.body.rows).toEqual([{ user_id: "retry_me", metadata: { plan: "pro" } }]);
    // Stamped when its id was first claimed: older than the newer write, so it cannot overwrite it.
    expect(retried!.body.receivedAt).toBeGreaterThanOrEqual(before);
    expect(retried!.body.receivedAt).toBeLessThan(newer!.body.receivedAt);
  });

  test("when the guard is unavailable, a request with an id is a 503 to retry, and nothing is claimed", async () => {
    const body = JSON.stringify({ user_id: "guard_down" });
    const headers = await signPayload(SECRET_NEW, body, { id: "msg_guard_down" });
    const get = vi.spyOn(env.REPLAY_GUARD, "get").mockImplementationOnce(() => {
      throw new Error("replay guard unavailable");
    });
    const refused = await signedCall(headers, body);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("Retry-After")).toBe("1");
    expect(sent).toHaveLength(0);
    get.mockRestore();
    expect((await signedCall(headers, body)).status).toBe(202);
    expect((await signedCall(headers, body)).headers.get("Idempotent-Replayed")).toBe("true");
    expect(queuedRows()).toEqual([{ user_id: "guard_down" }]);
  });

  test("while a request with the id is being queued, a second one is a 503 to retry; once confirmed, a replay", async () => {
    // The first request is held between its claim and its confirmation: claimed here directly,
    // as the Worker does (a promise shared with the Worker's request could never wake it).
    const body = JSON.stringify({ user_id: "concurrent" });
    const headers = await signPayload(SECRET_NEW, body, { id: "msg_concurrent" });
    const entry = await guardEntryOf(
      "signed:edge:msg_concurrent",
      "POST",
      "/v1/identify",
      new TextEncoder().encode(body),
    );
    expect(await claimRequest(env.REPLAY_GUARD, entry.key, entry.fingerprint, Date.now())).toMatchObject({
      state: "claimed",
    });
    const second = await signedCall(headers, body);
    expect(second.status).toBe(503);
    expect(await second.json()).toMatchObject({ error: "request_in_progress" });
    expect(second.headers.get("Retry-After")).toBe("1");
    expect(sent).toEqual([]);
    await confirmRequest(env.REPLAY_GUARD, entry.key, 1);
    const third = await signedCall(headers, body);
    expect(third.status).toBe(202);
    expect(third.headers.get("Idempotent-Replayed")).toBe("true");
    expect(sent).toEqual([]);
  });

  test("a claim never confirmed (its Worker died) lapses after its lease; the retry queues with the first stamp", async () => {
    const body = JSON.stringify({ user_id: "orphaned" });
    const headers = await signPayload(SECRET_NEW, body, { id: "msg_orphaned" });
    const entry = await guardEntryOf(
      "signed:edge:msg_orphaned",
      "POST",
      "/v1/identify",
      new TextEncoder().encode(body),
    );
    const stamp = Date.now() - 5000;
    await claimRequest(env.REPLAY_GUARD, entry.key, entry.fingerprint, stamp);
    expect((await signedCall(headers, body)).status).toBe(503); // still leased
    const shard = env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName(`replay-${entry.key[0]}`));
    await runInDurableObject(shard, (_, state) => {
      state.storage.sql.exec("UPDATE requests SET lease_until = 0 WHERE key = ?", entry.key);
    });
    expect((await signedCall(headers, body)).status).toBe(202);
    expect(messages().map((message) => message.body.receivedAt)).toEqual([stamp]);
    expect((await signedCall(headers, body)).headers.get("Idempotent-Replayed")).toBe("true");
  });

  test("many concurrent copies of one request queue it once", async () => {
    const body = JSON.stringify({ user_id: "stampede" });
    const headers = await signPayload(SECRET_NEW, body, { id: "msg_stampede" });
    const responses = await Promise.all(Array.from({ length: 20 }, () => signedCall(headers, body)));
    const statuses = responses.map((response) => response.status);
    expect(statuses.every((status) => status === 202 || status === 503)).toBe(true);
    expect(statuses.filter((status) => status === 202).length).toBeGreaterThanOrEqual(1);
    expect(queuedRows()).toEqual([{ user_id: "stampede" }]);
  });
});

describe("the guard's storage stays bounded", () => {
  test("a claim schedules a cleanup alarm, and the alarm deletes expired ids and reschedules for the rest", async () => {
    const body = JSON.stringify({ user_id: "expiring" });
    expect((await keyed("expiring", body)).status).toBe(202);
    const stubs = Array.from(
      { length: 16 },
      (_, i) => env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName(`replay-${i.toString(16)}`)),
    );
    let found = false;
    for (const stub of stubs) {
      const rows = await runInDurableObject(stub, async (_, state) => {
        const count = state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM requests").one().n;
        if (count === 0) return 0;
        expect(await state.storage.getAlarm()).not.toBeNull();
        // Age every entry but one past the window.
        state.storage.sql.exec("UPDATE requests SET expires_at = 1");
        state.storage.sql.exec(
          "INSERT INTO requests VALUES ('kept', 'f', 1, 'accepted', 1, 0, ?)",
          Date.now() + 60_000,
        );
        return count;
      });
      if (rows === 0) continue;
      found = true;
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      await runInDurableObject(stub, async (_, state) => {
        expect(state.storage.sql.exec("SELECT key FROM requests").toArray()).toEqual([{ key: "kept" }]);
        expect(await state.storage.getAlarm()).not.toBeNull();
      });
    }
    expect(found).toBe(true);
    // Its entry gone, the id is new again.
    expect((await keyed("expiring", body)).headers.get("Idempotent-Replayed")).toBeNull();
  });
});
