import { afterEach, describe, expect, test, vi } from "vitest";
import {
  buildBulkIdentifyRequests,
  createIngestClient,
  HTTPError,
  isRequestId,
  TimeoutError,
  type UserInput,
  UserpilotClient,
  type UserpilotError,
  UserpilotRealtime,
  ValidationError,
} from "../../mod.ts";
import { USER_AGENT, VERSION } from "../../src/core/version.ts";

// The ingest client never hurts its caller (whatever waitUntil, fetch or the endpoint do), is
// bounded in time, and reaches the whole endpoint: identify, companies, track and deletes.

type Seen = { method: string; path: string; headers: Headers; body: unknown };

const URL_ = "https://ingest.example.com";

function endpoint(answer: (seen: Seen) => number | Promise<never> = () => 202) {
  const seen: Seen[] = [];
  const fetch = async (request: Request): Promise<Response> => {
    const entry = {
      method: request.method,
      path: new URL(request.url).pathname,
      headers: request.headers,
      body: JSON.parse(await request.text()) as unknown,
    };
    seen.push(entry);
    const status = await answer(entry);
    return new Response(JSON.stringify(status === 202 ? { accepted: 1 } : { error: "x" }), { status });
  };
  return { seen, fetch };
}

/** A fetch that never answers and ignores its signal: the worst an endpoint or a proxy can do. */
const blackHole = (): Promise<Response> => new Promise<Response>(() => {});

afterEach(() => {
  vi.useRealTimers();
});

describe("never throws into the caller", () => {
  test("a waitUntil that throws: identify returns, onError hears why, and the row is still sent", async () => {
    const { seen, fetch } = endpoint();
    const errors: UserpilotError[] = [];
    const client = createIngestClient({ url: URL_, key: "k" }, {
      fetch,
      waitUntil: () => {
        throw new Error("waitUntil: not in request context");
      },
      onError: (error) => errors.push(error),
    });
    expect(() => client.identify({ user_id: "a" })).not.toThrow();
    expect(errors.map((error) => error.message)).toEqual([
      "waitUntil threw (waitUntil: not in request context); the send goes on without it and may be cut short",
    ]);
    // Still sent in the background (here taken over by an explicit flush, which waits for it).
    expect(await client.flush()).toEqual({ sent: 1, failed: 0, pending: 0 });
    expect(seen.map((s) => s.body)).toEqual([{ users: [{ user_id: "a" }] }]);
  });

  test("a fetch that throws synchronously, an onError that throws, a row whose getter throws: every call returns", async () => {
    const client = createIngestClient({ url: URL_, key: "k" }, {
      fetch: () => {
        throw new TypeError("fetch is broken");
      },
      retry: false,
      onError: () => {
        throw new Error("a broken callback");
      },
    });
    const hostile = {
      get user_id(): string {
        throw new Error("getter");
      },
    } as UserInput;
    expect(() => client.identify(hostile)).not.toThrow();
    expect(() => client.identify({ user_id: "a" })).not.toThrow();
    expect(() => client.track(null as never)).not.toThrow();
    expect(() => client.deleteUsers("u1" as never)).not.toThrow();
    expect(await client.flush()).toEqual({ sent: 0, failed: 1, pending: 0 });
    await expect(client.flush({ timeoutMs: -1 })).resolves.toMatchObject({ sent: 0 });
    expect(await client.close()).toEqual({ sent: 0, failed: 1, pending: 0 });
  });
});

describe("never overruns", () => {
  test("per request: an endpoint that never answers is cut at the 25 s deadline, and onError hears it", async () => {
    vi.useFakeTimers();
    const errors: UserpilotError[] = [];
    const sends: Promise<unknown>[] = [];
    let attempts = 0;
    const client = createIngestClient({ url: URL_, key: "k" }, {
      fetch: () => {
        attempts++;
        return blackHole();
      },
      waitUntil: (promise) => sends.push(promise),
      onError: (error) => errors.push(error),
    });
    client.identify({ user_id: "a" });
    client.identify({ user_id: "b" });
    let settled: unknown;
    void sends[0]!.then((result) => (settled = result));
    // Three attempts of 10 s and their waits would run past a Worker's 30 s; the deadline comes first.
    await vi.advanceTimersByTimeAsync(24_999);
    expect(settled).toBeUndefined();
    expect(errors).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toEqual({ sent: 0, failed: 2, pending: 0 });
    expect(attempts).toBe(3);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TimeoutError);
    expect(errors[0]!.message).toBe("2 users not sent: the 25000 ms deadline of a per-request send ran out");
  });

  test("the deadline is an option; explicit flushes in per-request use have it too", async () => {
    vi.useFakeTimers();
    const errors: UserpilotError[] = [];
    const client = createIngestClient({ url: URL_, key: "k" }, {
      fetch: blackHole,
      deadlineMs: 5_000,
      onError: (error) => errors.push(error),
    });
    client.track({ user_id: "a", event_name: "e" });
    const flushed = client.flush();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await flushed).toEqual({ sent: 0, failed: 1, pending: 0 });
    expect(errors.map((error) => error.message)).toEqual([
      "1 events not sent: the 5000 ms deadline of a per-request send ran out",
    ]);
  });

  test("long-lived: flush({ timeoutMs }) says what is still pending; close({ timeoutMs }) stops and reports what was not sent", async () => {
    vi.useFakeTimers();
    const errors: UserpilotError[] = [];
    const client = createIngestClient({ url: URL_, key: "k" }, {
      fetch: blackHole,
      flushAt: 100,
      flushIntervalMs: 60_000,
      onError: (error) => errors.push(error),
    });
    for (let i = 0; i < 3; i++) client.identify({ user_id: `u${i}` });
    client.deleteUsers(["gone"]);
    const flushed = client.flush({ timeoutMs: 1_000 });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await flushed).toEqual({ sent: 0, failed: 0, pending: 4 });
    client.identify({ user_id: "late" });
    const closed = client.close({ timeoutMs: 2_000 });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await closed).toEqual({ sent: 0, failed: 5, pending: 0 });
    expect(errors.map((error) => [error.name, error.message])).toEqual([
      ["TimeoutError", "3 users not sent: close() gave up after 2000 ms"],
      ["TimeoutError", "1 user deletions not sent: close() gave up after 2000 ms"],
      ["TimeoutError", "1 users not sent: close() gave up after 2000 ms"],
    ]);
  });

  test("close() is bounded by default (25 s)", async () => {
    vi.useFakeTimers();
    const errors: UserpilotError[] = [];
    const client = createIngestClient({ url: URL_, key: "k" }, {
      fetch: blackHole,
      flushAt: 10,
      onError: (error) => errors.push(error),
    });
    client.identify({ user_id: "a" });
    let result: unknown;
    void client.close().then((closed) => (result = closed));
    await vi.advanceTimersByTimeAsync(24_999);
    expect(result).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(result).toEqual({ sent: 0, failed: 1, pending: 0 });
    expect(errors[0]!.message).toBe("1 users not sent: close() gave up after 25000 ms");
  });
});

describe("the whole endpoint from one client", () => {
  test("track and deletes go to their routes, each write with its own request id, the same on every retry", async () => {
    let failFirst = true;
    const { seen, fetch } = endpoint(() => {
      if (!failFirst) return 202;
      failFirst = false;
      return 503;
    });
    const client = createIngestClient({ url: URL_, key: "k" }, {
      fetch,
      retry: { baseDelayMs: 0, maxDelayMs: 0 },
    });
    client.track({ user_id: "u1", event_name: "invoice_paid", metadata: { amount: 30, at: new Date(0) } });
    client.identify({ user_id: "u1", metadata: { plan: "pro" } });
    client.deleteUsers(["u9", "u8", "u9"]);
    client.deleteCompanies(["c9"]);
    expect(await client.flush()).toEqual({ sent: 5, failed: 0, pending: 0 });
    expect(seen.map(({ method, path, body }) => [method, path, body])).toEqual([
      ["POST", "/v1/users/bulk_identify", { users: [{ user_id: "u1", metadata: { plan: "pro" } }] }],
      ["POST", "/v1/users/bulk_identify", { users: [{ user_id: "u1", metadata: { plan: "pro" } }] }],
      // The identify goes first: Userpilot ignores events of users it does not know yet.
      [
        "POST",
        "/v1/track",
        {
          user_id: "u1",
          event_name: "invoice_paid",
          metadata: { amount: 30, at: "1970-01-01T00:00:00.000Z" },
        },
      ],
      ["DELETE", "/v1/users", { users: ["u9", "u8"] }],
      ["DELETE", "/v1/companies", { companies: ["c9"] }],
    ]);
    const ids = seen.map((s) => s.headers.get("Idempotency-Key"));
    expect(ids.every(isRequestId)).toBe(true);
    expect(ids[1]).toBe(ids[0]); // the retry
    expect(new Set(ids).size).toBe(4);
  });

  test("a delete is a barrier: what was called before it lands before it, what was called after lands after it", async () => {
    const { seen, fetch } = endpoint();
    const client = createIngestClient({ url: URL_, key: "k" }, { fetch });
    client.identify({ user_id: "u1", metadata: { plan: "free" } });
    client.deleteUsers(["u1"]);
    client.identify({ user_id: "u1", metadata: { plan: "pro" } });
    client.track({ user_id: "u1", event_name: "came_back" });
    await client.flush();
    expect(seen.map(({ method, path, body }) => [method, path, body])).toEqual([
      ["POST", "/v1/users/bulk_identify", { users: [{ user_id: "u1", metadata: { plan: "free" } }] }],
      ["DELETE", "/v1/users", { users: ["u1"] }],
      ["POST", "/v1/users/bulk_identify", { users: [{ user_id: "u1", metadata: { plan: "pro" } }] }],
      ["POST", "/v1/track", { user_id: "u1", event_name: "came_back" }],
    ]);
  });

  test("invalid events and ids are refused at the call, never sent, never quoted", async () => {
    const { seen, fetch } = endpoint();
    const errors: UserpilotError[] = [];
    const client = createIngestClient({ url: URL_, key: "k" }, {
      fetch,
      onError: (error) => errors.push(error),
    });
    client.track({ user_id: "u1", event_name: "", metadata: { secret: "do-not-leak" } });
    client.track({
      user_id: "u1",
      event_name: "big",
      metadata: { text: "x".repeat(8000), more: "y".repeat(8000) },
    });
    client.deleteUsers(["ok", " ", "bad\u0000id"]);
    client.deleteCompanies([]);
    await client.flush();
    expect(seen.map((s) => s.path)).toEqual(["/v1/track"]); // only the big (but allowed) event
    expect(errors.map((error) => [error.constructor, error.message])).toEqual([
      [ValidationError, "track was given an invalid event; it was not sent"],
      [ValidationError, "deleteUsers was given invalid ids; none was sent"],
    ]);
    expect((errors[1] as ValidationError).issues.map((issue) => issue.index)).toEqual([1, 2]);
    expect(JSON.stringify(errors.map((error) => (error as ValidationError).issues))).not.toContain(
      "do-not-leak",
    );
  });

  test("an event larger than the endpoint takes is refused at the call", () => {
    const errors: UserpilotError[] = [];
    const client = createIngestClient({ url: URL_, key: "k" }, { onError: (error) => errors.push(error) });
    const metadata = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, "x".repeat(8000)]));
    client.track({ user_id: "u1", event_name: "huge", metadata });
    expect(errors[0]!.message).toBe("track was given an event too large for the endpoint; it was not sent");
  });

  test("a refused scope (403) reaches onError, like any refusal", async () => {
    const { fetch } = endpoint((s) => (s.method === "DELETE" ? 403 : 202));
    const errors: UserpilotError[] = [];
    const client = createIngestClient({ url: URL_, key: "k" }, {
      fetch,
      onError: (error) => errors.push(error),
    });
    client.identify({ user_id: "u1" });
    client.deleteUsers(["u1"]);
    expect(await client.flush()).toEqual({ sent: 1, failed: 1, pending: 0 });
    expect(errors[0]).toBeInstanceOf(HTTPError);
    expect((errors[0] as HTTPError).status).toBe(403);
  });
});

describe("settings and who is calling", () => {
  test("createIngestClient.fromEnv reads USERPILOT_INGEST_URL and the signing secret (preferred) or key", async () => {
    const { seen, fetch } = endpoint();
    const keyed = createIngestClient.fromEnv(
      { USERPILOT_INGEST_URL: URL_, USERPILOT_INGEST_KEY: "env-key" },
      { fetch },
    );
    keyed.identify({ user_id: "a" });
    await keyed.flush();
    expect(seen[0]!.headers.get("Authorization")).toBe("Bearer env-key");
    const signed = createIngestClient.fromEnv({
      USERPILOT_INGEST_URL: URL_,
      USERPILOT_INGEST_KEY: "env-key",
      USERPILOT_INGEST_SIGNING_SECRET: "whsec_YS1zZWNyZXQtb2YtdGhpcnR5LXR3by1ieXRlcy1vayE=",
    }, { fetch });
    signed.identify({ user_id: "a" });
    await signed.flush();
    expect(seen[1]!.headers.get("Authorization")).toBeNull();
    expect(seen[1]!.headers.get("webhook-signature")).toMatch(/^v1,/);
  });

  test("fromEnv names every missing setting, never a value", () => {
    expect(() => createIngestClient.fromEnv({})).toThrow(
      "createIngestClient.fromEnv: USERPILOT_INGEST_URL, and USERPILOT_INGEST_SIGNING_SECRET or USERPILOT_INGEST_KEY are not set",
    );
    expect(() => createIngestClient.fromEnv({ USERPILOT_INGEST_KEY: "sekrit" })).toThrow(
      "createIngestClient.fromEnv: USERPILOT_INGEST_URL is not set",
    );
    expect(() =>
      createIngestClient.fromEnv({ USERPILOT_INGEST_URL: URL_, USERPILOT_INGEST_SIGNING_SECRET: "sekrit" })
    )
      .toThrow(/signingSecret must look like whsec_/);
  });

  test("every request to the endpoint carries User-Agent: userpilot-bulk/<version>", async () => {
    const { seen, fetch } = endpoint();
    const client = createIngestClient({ url: URL_, key: "k" }, { fetch });
    client.identify({ user_id: "a" });
    client.identifyCompany({ company_id: "c" });
    client.track({ user_id: "a", event_name: "e" });
    client.deleteCompanies(["c"]);
    await client.flush();
    expect(USER_AGENT).toBe(`userpilot-bulk/${VERSION}`);
    expect(seen.map((s) => s.headers.get("User-Agent"))).toEqual(Array(4).fill(USER_AGENT));
  });

  test("every request to Userpilot carries it too: bulk, polls, real-time and deletes", async () => {
    const agents: (string | null)[] = [];
    const fetch = (request: Request): Promise<Response> => {
      agents.push(request.headers.get("User-Agent"));
      return Promise.resolve(Response.json({ job_id: "j1", status: "completed" }, { status: 202 }));
    };
    const { requests } = buildBulkIdentifyRequests([{ user_id: "a" }], { apiKey: "key" });
    agents.push(requests[0]!.headers.get("User-Agent"));
    await new UserpilotClient({ apiKey: "key", fetch }).getJob("j1");
    const realtime = new UserpilotRealtime({ apiKey: "key", fetch });
    await realtime.track({ user_id: "a", event_name: "e" });
    await realtime.deleteUsers(["a"]);
    expect(agents).toEqual(Array(4).fill(USER_AGENT));
  });

  test("a property Userpilot sets itself is sent as given, with one warning per property", async () => {
    const { seen, fetch } = endpoint();
    const warnings: string[] = [];
    const client = createIngestClient({ url: URL_, key: "k" }, { fetch, onWarning: (w) => warnings.push(w) });
    client.identify({ user_id: "a", metadata: { last_seen_at: "2024-05-01T00:00:00Z" } });
    client.identify({ user_id: "b", metadata: { last_seen_at: null, first_seen_at: new Date(0) } });
    client.identifyCompany({ company_id: "c", metadata: { last_seen_at: "2024-05-01" } }); // a custom property of a company
    await client.flush();
    expect(seen[0]!.body).toEqual({
      users: [
        { user_id: "a", metadata: { last_seen_at: "2024-05-01T00:00:00Z" } },
        { user_id: "b", metadata: { last_seen_at: null, first_seen_at: "1970-01-01T00:00:00.000Z" } },
      ],
    });
    expect(warnings).toEqual([
      "userpilot-bulk: metadata.last_seen_at is set by Userpilot itself: the value is sent as given, but Userpilot may keep its own (use a property of your own for your own time)",
      "userpilot-bulk: metadata.first_seen_at is set by Userpilot itself: the value is sent as given, but Userpilot may keep its own (use a property of your own for your own time)",
    ]);
  });
});
