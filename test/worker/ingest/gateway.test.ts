import { createMessageBatch, reset } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker, { type QueueMessageBody } from "../../../src/worker/index.ts";
import { beforeEach, describe, expect, test } from "vitest";
import { call, deliveryStub, drained, eventually, FAST_USERPILOT, KEY, sandbox } from "../helpers.ts";

beforeEach(async () => {
  await reset();
  await sandbox("/__sandbox/reset", {});
  await sandbox("/__sandbox/config", FAST_USERPILOT);
});

/** A call as Userpilot's integrations make it: `Token` auth, `X-API-Version`, JSON. */
function userpilotCall(
  method: string,
  path: string,
  body?: unknown,
  key = KEY,
): Promise<Response> {
  return call(path, {
    method,
    headers: {
      "Content-Type": "application/json",
      Authorization: `Token ${key}`,
      "X-API-Version": "2020-09-22",
    },
    body: body === undefined ? null : JSON.stringify(body),
  });
}

type Event = { user_id: string; event_name: string; metadata: Record<string, unknown>; known: boolean };
type Deletion = { kind: string; ids: string[]; at: string };

/** Wait (bounded) until the sandbox holds `count` events. */
async function events(count: number, timeoutMs = 20_000): Promise<Event[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = await sandbox<Event[]>("/__sandbox/events");
    if (seen.length >= count) return seen;
    if (Date.now() > deadline) throw new Error(`only ${seen.length} of ${count} events arrived`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("Userpilot's own requests", () => {
  test("Token auth works with the ingest keys; errors come in Userpilot's shape", async () => {
    expect((await userpilotCall("POST", "/v1/identify", { user_id: "t1" })).status).toBe(202);
    const refused = await userpilotCall("POST", "/v1/identify", { user_id: "t1" }, "wrong-key");
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({
      errors: [{ details: null, error: "Unauthorized", error_code: "unauthorized", message: "unauthorized" }],
      error: "unauthorized",
    });
    const invalid = await userpilotCall("POST", "/v1/identify", { user_id: "", metadata: { a: { b: 1 } } });
    expect(invalid.status).toBe(400);
    const body = (await invalid.json()) as {
      errors: { error_code: string; details: { issueCount: number } }[];
    };
    expect(body.errors[0]).toMatchObject({ error: "Bad Request", error_code: "invalid_request" });
    expect(body.errors[0]!.details.issueCount).toBe(2);
    // Our own routes keep our own shape.
    const bulk = await call("/v1/users/bulk_identify", {
      method: "POST",
      headers: { Authorization: `Token ${KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ users: [] }),
    });
    expect(await bulk.json()).toMatchObject({ error: "invalid_request" });
  });

  test("GET /v1/users and /v1/validate check a credential and return no data", async () => {
    for (const path of ["/v1/users", "/v1/validate"]) {
      const ok = await userpilotCall("GET", path);
      expect(ok.status, path).toBe(200);
      expect(await ok.json()).toEqual({});
      expect((await userpilotCall("GET", path, undefined, "nope")).status, path).toBe(401);
    }
  });

  test("POST /v1/companies/identify merges and delivers the company", async () => {
    expect(
      (await userpilotCall("POST", "/v1/companies/identify", {
        company_id: "acme",
        metadata: { plan: "pro" },
      }))
        .status,
    ).toBe(202);
    expect(
      (await userpilotCall("POST", "/v1/companies/identify", { company_id: "acme", metadata: { seats: 3 } }))
        .status,
    ).toBe(202);
    await drained(15_000, 2);
    expect(await sandbox("/__sandbox/companies/acme")).toEqual({
      company_id: "acme",
      metadata: { plan: "pro", seats: 3 },
    });
    expect((await userpilotCall("POST", "/v1/companies/identify", { user_id: "x" })).status).toBe(400);
  });
});

describe("events", () => {
  test("a user's events go in order, and only after the identifies accepted before them", async () => {
    // The event arrives with (or before) its user's first identify: it must wait for the identify.
    expect((await userpilotCall("POST", "/v1/identify", { user_id: "e1", metadata: { plan: "pro" } })).status)
      .toBe(202);
    for (let i = 0; i < 5; i++) {
      expect(
        (await userpilotCall("POST", "/v1/track", {
          user_id: "e1",
          event_name: `step_${i}`,
          metadata: { i },
        }))
          .status,
      ).toBe(202);
    }
    const seen = await events(5);
    expect(seen.map((event) => event.event_name)).toEqual(["step_0", "step_1", "step_2", "step_3", "step_4"]);
    expect(seen.every((event) => event.known)).toBe(true);
    expect(seen[2]!.metadata).toEqual({ i: 2 });
    const status = await drained(15_000);
    expect(status).toMatchObject({ pending: { events: 0 }, events: { received: 5 } });
  });

  test("an invalid event is refused with nothing queued; a repeated request id is queued once", async () => {
    const missing = await userpilotCall("POST", "/v1/track", { user_id: "e2" });
    expect(missing.status).toBe(400);
    const headers = {
      "Content-Type": "application/json",
      Authorization: `Bearer ${KEY}`,
      "Idempotency-Key": "track-once-1",
    };
    const body = JSON.stringify({ user_id: "e2", event_name: "paid" });
    await userpilotCall("POST", "/v1/identify", { user_id: "e2" });
    expect((await call("/v1/track", { method: "POST", headers, body })).status).toBe(202);
    const again = await call("/v1/track", { method: "POST", headers, body });
    expect(again.status).toBe(202);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    await events(1);
    await drained(15_000);
    expect((await sandbox<Event[]>("/__sandbox/events")).filter((event) => event.user_id === "e2"))
      .toHaveLength(1);
  });

  test("an event Userpilot refuses alone, while others go through, is set aside and can be redriven", async () => {
    await sandbox("/__sandbox/faults", { refuseIds: ["e3"] });
    const stub = await deliveryStub();
    await userpilotCall("POST", "/v1/track", { user_id: "e3", event_name: "odd" });
    // Other events keep going through meanwhile: the evidence that it is this event, not Userpilot.
    let others = 0;
    await eventually(async () => {
      await userpilotCall("POST", "/v1/track", { user_id: `other${others++}`, event_name: "ok" });
      return (await stub.status()).setAside.count;
    }, (count) => count > 0);
    const status = await drained(15_000);
    expect(status.setAside.count).toBe(1);
    const [aside] = (await stub.listSetAside({ limit: 1 })).rows;
    expect(aside).toMatchObject({ kind: "events", id: "e3", row: { event_name: "odd" }, attempts: 4 });
    expect(aside!.reason).toMatch(/refused this request: POST \/v1\/track answered 400 \(invalid_event\)/);
    // Userpilot takes it now: the operator redrives it, and it arrives.
    await sandbox("/__sandbox/faults", {});
    expect(await stub.redrive({ all: true })).toBe(1);
    await drained(15_000);
    const arrived = (await sandbox<Event[]>("/__sandbox/events")).filter((event) => event.user_id === "e3");
    expect(arrived.map((event) => event.event_name)).toEqual(["odd"]);
  });
});

describe("deletions", () => {
  test("a delete drops the pending values and events of those ids at once, and is forwarded to Userpilot", async () => {
    // Userpilot is down, so what is accepted for "gone" is still pending when the delete comes.
    await sandbox("/__sandbox/faults", { rate5xx: 1 });
    await userpilotCall("POST", "/v1/identify", { user_id: "gone", metadata: { email: "gone@example.com" } });
    await userpilotCall("POST", "/v1/identify", { user_id: "stays", metadata: { plan: "pro" } });
    await userpilotCall("POST", "/v1/track", { user_id: "gone", event_name: "left" });
    const stub = await deliveryStub();
    for (let i = 0; i < 200 && (await stub.status()).rowsReceived < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await userpilotCall("DELETE", "/v1/users", { users: ["gone"] })).status).toBe(202);
    for (let i = 0; i < 200 && (await stub.status()).pending.deletions === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await sandbox("/__sandbox/faults", {});
    const status = await drained(20_000);
    expect(status.pending).toMatchObject({ users: 0, deletions: 0, events: 0 });
    expect(await sandbox<Deletion[]>("/__sandbox/deletions")).toEqual([
      { kind: "users", ids: ["gone"], at: expect.any(String), ran: false },
    ]);
    // Nothing of what was pending for "gone" reached Userpilot; the other user did.
    expect(await sandboxStatus("/__sandbox/users/gone")).toBe(404);
    expect((await sandbox<Event[]>("/__sandbox/events")).filter((event) => event.user_id === "gone")).toEqual(
      [],
    );
    expect(await sandbox("/__sandbox/users/stays")).toEqual({ user_id: "stays", metadata: { plan: "pro" } });
  });

  test("an identify accepted after the delete is delivered after it", async () => {
    expect((await userpilotCall("DELETE", "/v1/users", { users: ["phoenix"] })).status).toBe(202);
    expect(
      (await userpilotCall("POST", "/v1/identify", { user_id: "phoenix", metadata: { back: true } })).status,
    ).toBe(202);
    await eventually(() => sandboxStatus("/__sandbox/users/phoenix"), (status) => status === 200);
    const [deletion] = await sandbox<Deletion[]>("/__sandbox/deletions");
    const [job] = await userpilotJobs();
    expect(Date.parse(deletion!.at)).toBeLessThanOrEqual(Date.parse(job!.start_time));
    expect(await sandbox("/__sandbox/users/phoenix")).toEqual({
      user_id: "phoenix",
      metadata: { back: true },
    });
  });

  test("a delete of a user a running job carries is forwarded after that job, so Userpilot deletes last", async () => {
    // A slow Userpilot: the job carrying "busy" runs for about a second.
    await sandbox("/__sandbox/config", { rowsPerMinute: 120 });
    await userpilotCall("POST", "/v1/users/bulk_identify", {
      users: [{ user_id: "busy", metadata: { email: "busy@example.com" } }, {
        user_id: "other",
        metadata: { plan: "pro" },
      }],
    });
    const [running] = await eventually(userpilotJobs, (jobs) => jobs.length === 1);
    expect(running!.total_rows).toBe(2);
    expect((await userpilotCall("DELETE", "/v1/users", { users: ["busy"] })).status).toBe(202);
    const [deletion] = await eventually(
      () => sandbox<Deletion[]>("/__sandbox/deletions"),
      (list) => list.length === 1,
    );
    const [job] = await userpilotJobs();
    expect(job!.status).toBe("completed");
    expect(Date.parse(deletion!.at)).toBeGreaterThanOrEqual(Date.parse(job!.end_time!));
    // Userpilot's deletion job (daily) then removes what the running job wrote.
    await sandbox("/__sandbox/run-deletions", {});
    expect(await sandboxStatus("/__sandbox/users/busy")).toBe(404);
    expect(await sandbox("/__sandbox/users/other")).toEqual({ user_id: "other", metadata: { plan: "pro" } });
  });

  test("deletes are forwarded at Userpilot's pace, in batches, and never answer 429 to their caller", async () => {
    for (let i = 0; i < 6; i++) {
      expect((await userpilotCall("DELETE", "/v1/companies", { companies: [`c${i}`, `c${i}b`] })).status)
        .toBe(202);
    }
    const forwarded = await eventually(
      () => sandbox<Deletion[]>("/__sandbox/deletions"),
      (list) => list.flatMap((d) => d.ids).length === 12,
    );
    expect(forwarded.flatMap((d) => d.ids).sort()).toEqual(
      Array.from({ length: 6 }, (_, i) => [`c${i}`, `c${i}b`]).flat().sort(),
    );
    const stats = await sandbox<{ statuses: Record<string, number> }>("/__sandbox/stats");
    expect(stats.statuses["429"] ?? 0).toBe(0);
  });
});

async function sandboxStatus(path: string): Promise<number> {
  const { env } = await import("cloudflare:workers");
  return (await env.USERPILOT!.fetch(`http://userpilot.localhost${path}`)).status;
}

type Job = { total_rows: number; status: string; start_time: string; end_time: string | null };

async function userpilotJobs(): Promise<Job[]> {
  const { env } = await import("cloudflare:workers");
  const response = await env.USERPILOT!.fetch("http://userpilot.localhost/v1/background_jobs", {
    headers: { Authorization: `Token ${env.USERPILOT_API_KEY}` },
  });
  return (await response.json()) as Job[];
}

describe("a burst of events", () => {
  test(
    "5,000 track calls: Userpilot never sees more than its limit per window, none is lost, each user's in order and after the user exists",
    async () => {
      const USERS = 50;
      const CALLS = 5_000;
      const users = Array.from({ length: USERS }, (_, u) => ({ user_id: `burst${u}`, metadata: { u } }));
      expect(
        (await call("/v1/users/bulk_identify", {
          method: "POST",
          headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
          body: JSON.stringify({ users }),
        })).status,
      ).toBe(202);
      // The calls as the Queue hands them to the consumer: one message per track call, 100 to a
      // batch. (Posting 5,000 calls through the test pool's local Queue takes minutes: each send
      // gets slower as its backlog grows. The HTTP path of /v1/track is tested above, and the
      // soak sends track calls through wrangler dev.)
      const accepted = Date.now();
      for (let start = 0; start < CALLS; start += 100) {
        const batch = createMessageBatch<QueueMessageBody>(
          "userpilot-ingest",
          Array.from({ length: 100 }, (_, k) => {
            const i = start + k;
            const event = { user_id: `burst${i % USERS}`, event_name: "tick", metadata: { n: i } };
            return {
              id: `m${i}`,
              timestamp: new Date(),
              attempts: 1,
              body: { kind: "events", receivedAt: accepted + i, events: [{ eventId: `burst-${i}`, event }] },
            };
          }),
        );
        await worker.queue(batch, env);
      }
      const seen = await eventually(
        () => sandbox<Event[]>("/__sandbox/events"),
        (list) => list.length >= CALLS,
        60_000,
      );
      expect(seen).toHaveLength(CALLS);
      expect(seen.every((event) => event.known)).toBe(true);
      const numbers = seen.map((event) => event.metadata["n"] as number);
      expect(new Set(numbers).size).toBe(CALLS);
      for (let u = 0; u < USERS; u++) {
        const mine = seen.filter((event) => event.user_id === `burst${u}`).map((event) =>
          event.metadata["n"] as number
        );
        expect(mine).toEqual([...mine].sort((a, b) => a - b));
      }
      const stats = await sandbox<{ realtime: { peakPerWindow: number } }>("/__sandbox/stats");
      expect(stats.realtime.peakPerWindow).toBeLessThanOrEqual(FAST_USERPILOT.realtimeLimit);
    },
    90_000,
  );
});
