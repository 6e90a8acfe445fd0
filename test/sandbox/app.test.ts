import { describe, expect, test } from "vitest";
import { createSandbox, SANDBOX_API_KEY, type SandboxOptions } from "../../src/sandbox/mod.ts";

const BASE = "http://sandbox.localhost";
const auth = { Authorization: `Token ${SANDBOX_API_KEY}`, "Content-Type": "application/json" };

function setup(options: SandboxOptions = {}) {
  let clock = 1_700_000_000_000;
  const app = createSandbox({ rowsPerMinute: 1200, queueMs: 200, seed: 1, now: () => clock, ...options });
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = auth,
  ) => {
    const response = await app.fetch(
      new Request(`${BASE}${path}`, {
        method,
        headers,
        body: body === undefined
          ? null
          : typeof body === "string" || body instanceof FormData
          ? body
          : JSON.stringify(body),
      }),
    );
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };
  return { app, call, tick: (ms: number) => (clock += ms) };
}

const users = (n: number, prefix = "u") =>
  Array.from({ length: n }, (_, i) => ({ user_id: `${prefix}${i}` }));

describe("authentication", () => {
  test("a missing or wrong key gets 401 with Userpilot's error body", async () => {
    const { call } = setup();
    for (
      const headers of [{}, { Authorization: "Token nope" }, { Authorization: `Bearer ${SANDBOX_API_KEY}` }]
    ) {
      const { status, body } = await call("POST", "/v1/users/bulk_identify", { users: users(1) }, headers);
      expect(status).toBe(401);
      expect(body.errors[0]).toMatchObject({
        error: "Unauthorized",
        error_code: "unauthorized",
        message: expect.any(String),
      });
      expect(Object.keys(body.errors[0]).sort()).toEqual(["details", "error", "error_code", "message"]);
    }
  });

  test("the NX- app token gets a hint", async () => {
    const { call } = setup();
    const { body } = await call("GET", "/v1/background_jobs", undefined, {
      Authorization: "Token NX-1234abcd",
    });
    expect(body.errors[0].message).toMatch(/app token/);
  });
});

describe("bulk identify", () => {
  test("202 with the OpenAPI job shape; the job moves queued → processing → completed at rowsPerMinute", async () => {
    const { call, tick } = setup();
    const posted = await call("POST", "/v1/users/bulk_identify", { users: users(40) });
    expect(posted.status).toBe(202);
    expect(Object.keys(posted.body).sort()).toEqual(
      [
        "completed_rows",
        "elapsed_time",
        "end_time",
        "file_size",
        "filename",
        "job_id",
        "links",
        "start_time",
        "status",
        "total_rows",
        "type",
      ],
    );
    expect(posted.body).toMatchObject({ status: "queued", end_time: null, total_rows: 40 });
    expect(posted.body.job_id).toMatch(/^bulk:jobs:NX-sandbox:/);
    const path = `/v1/background_jobs/${encodeURIComponent(posted.body.job_id)}`;
    tick(200 + 30 * 50); // 1,200 rows/min is 50 ms a row
    expect((await call("GET", path)).body).toMatchObject({ status: "processing", completed_rows: 30 });
    expect((await call("GET", "/__sandbox/users/u29")).status).toBe(200);
    expect((await call("GET", "/__sandbox/users/u30")).status).toBe(404);
    tick(10 * 50);
    const done = (await call("GET", path)).body;
    expect(done).toMatchObject({ status: "completed", completed_rows: 40, end_time: expect.any(String) });
    expect((await call("GET", "/v1/background_jobs")).body.map((j: { job_id: string }) => j.job_id)).toEqual([
      done.job_id,
    ]);
  });

  test("409 while a job runs, for users and companies alike; accepted again once it ends", async () => {
    const { call, tick } = setup();
    await call("POST", "/v1/users/bulk_identify", { users: users(10) });
    expect((await call("POST", "/v1/users/bulk_identify", { users: users(1) })).status).toBe(409);
    const conflict = await call("POST", "/v1/companies/bulk_identify", { companies: [{ company_id: "c" }] });
    expect(conflict.status).toBe(409);
    expect(conflict.body.errors[0].error_code).toBe("job_in_progress");
    tick(200 + 10 * 50);
    expect((await call("POST", "/v1/companies/bulk_identify", { companies: [{ company_id: "c" }] })).status)
      .toBe(202);
  });

  test("413 above 10,000 rows; 10,000 exactly is accepted", async () => {
    const { call } = setup();
    expect((await call("POST", "/v1/users/bulk_identify", { users: users(10_001) })).status).toBe(413);
    expect((await call("POST", "/v1/users/bulk_identify", { users: users(10_000) })).status).toBe(202);
  });

  test("413 above 50 MB, told by Content-Length before the body is read", async () => {
    const { app } = setup();
    const response = await app.fetch(
      new Request(`${BASE}/v1/users/bulk_identify`, {
        method: "POST",
        headers: { ...auth, "Content-Length": String(50 * 1024 * 1024 + 1) },
        body: "{}",
      }),
    );
    expect(response.status).toBe(413);
  });

  test.each([
    ["malformed JSON", "{", /not valid JSON/],
    ["no users array", { people: [] }, /users/],
    ["empty users", { users: [] }, /must not be empty/],
    ["missing user_id", { users: [{ metadata: {} }] }, /users\[0\]\.user_id is required/],
    ["nested metadata", { users: [{ user_id: "u", metadata: { a: { b: 1 } } }] }, /metadata\.a/],
    ["non-string company_id", { users: [{ user_id: "u", company_id: 5 }] }, /company_id must be a string/],
  ])("400 for %s", async (_, body, message) => {
    const { call } = setup();
    const response = await call("POST", "/v1/users/bulk_identify", body);
    expect(response.status).toBe(400);
    expect(response.body.errors[0].message).toMatch(message);
  });

  test("415 for a body that is neither JSON nor multipart", async () => {
    const { call } = setup();
    const response = await call("POST", "/v1/users/bulk_identify", "user_id=u", {
      ...auth,
      "Content-Type": "text/plain",
    });
    expect(response.status).toBe(415);
  });

  test("an NDJSON file uploaded as multipart is a job like any other", async () => {
    const { call, tick } = setup();
    const form = new FormData();
    const lines = '{"user_id":"f1","metadata":{"plan":"pro"}}\n\n{"user_id":"f2"}\n';
    form.set("file", new File([lines], "users.ndjson", { type: "application/x-ndjson" }));
    const { status, body } = await call("POST", "/v1/users/bulk_identify", form, {
      Authorization: auth.Authorization,
    });
    expect(status).toBe(202);
    expect(body).toMatchObject({ total_rows: 2, filename: "users.ndjson" });
    tick(1000);
    expect((await call("GET", "/__sandbox/users/f1")).body).toEqual({
      user_id: "f1",
      metadata: { plan: "pro" },
    });
  });

  test("a broken NDJSON line is a 400 naming the line", async () => {
    const { call } = setup();
    const form = new FormData();
    form.set("file", new File(['{"user_id":"f1"}\n{oops\n'], "users.ndjson"));
    const { status, body } = await call("POST", "/v1/users/bulk_identify", form, {
      Authorization: auth.Authorization,
    });
    expect(status).toBe(400);
    expect(body.errors[0].message).toMatch(/Line 2/);
  });

  test("merges: null removes a key, a new company_id moves the user, other keys stay", async () => {
    const { call, tick } = setup();
    await call("POST", "/v1/users/bulk_identify", {
      users: [{ user_id: "u", company_id: "a", metadata: { x: 1, y: 2 } }],
    });
    tick(1000);
    await call("POST", "/v1/users/bulk_identify", {
      users: [{ user_id: "u", company_id: "b", metadata: { x: null, z: 3 } }],
    });
    tick(1000);
    expect((await call("GET", "/__sandbox/users/u")).body).toEqual({
      user_id: "u",
      company_id: "b",
      metadata: { y: 2, z: 3 },
    });
  });

  test("prototype-like keys are stored as data, never reaching Object.prototype", async () => {
    const { call, tick } = setup();
    const body = '{"users":[{"user_id":"u","metadata":{"__proto__":"x","constructor":"y"}}]}';
    expect((await call("POST", "/v1/users/bulk_identify", body)).status).toBe(202);
    tick(1000);
    expect((await call("GET", "/__sandbox/users/u")).body.metadata).toEqual(
      JSON.parse('{"__proto__":"x","constructor":"y"}'),
    );
    expect(({} as Record<string, unknown>)["x"]).toBeUndefined();
  });

  test("an unknown job is 404", async () => {
    const { call } = setup();
    expect((await call("GET", "/v1/background_jobs/nope")).status).toBe(404);
  });
});

describe("faults and inspection", () => {
  test("429 carries Retry-After; stats count every status and fault", async () => {
    const { call } = setup();
    await call("POST", "/__sandbox/faults", { rate429: 1, retryAfterSeconds: 7 });
    const limited = await call("GET", "/v1/background_jobs");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("Retry-After")).toBe("7");
    const { body } = await call("GET", "/__sandbox/stats");
    expect(body.statuses["429"]).toBe(1);
    expect(body.faults.rateLimited).toBe(1);
  });

  test("5xx at the given rate", async () => {
    const { app, call } = setup();
    await call("POST", "/__sandbox/faults", { rate5xx: 1 });
    const response = await app.fetch(new Request(`${BASE}/v1/background_jobs`, { headers: auth }));
    expect([500, 502, 503]).toContain(response.status);
    expect((await call("GET", "/__sandbox/stats")).body.faults.serverErrors).toBe(1);
  });

  test("a dropped connection breaks the body; after-drops still create the job", async () => {
    const { app, call } = setup({ seed: 3 });
    await call("POST", "/__sandbox/faults", { dropRate: 1 });
    const outcomes: string[] = [];
    for (let i = 0; i < 8; i++) {
      const response = await app.fetch(
        new Request(`${BASE}/v1/users/bulk_identify`, {
          method: "POST",
          headers: auth,
          body: JSON.stringify({ users: users(1, `d${i}`) }),
        }),
      );
      outcomes.push(await response.text().then(() => "read", () => "dropped"));
    }
    expect(outcomes.every((o) => o === "dropped")).toBe(true);
    const { body } = await call("GET", "/__sandbox/stats");
    expect(body.faults.dropped).toBe(8);
    expect(body.jobs.created).toBeGreaterThan(0); // some drops came after the job was made
  });

  test("a failing job stops part way, having applied only the rows before the failure", async () => {
    const { call, tick } = setup();
    await call("POST", "/__sandbox/faults", { jobFailureRate: 1 });
    const { body: job } = await call("POST", "/v1/users/bulk_identify", { users: users(20) });
    tick(60_000);
    const done = (await call("GET", `/v1/background_jobs/${encodeURIComponent(job.job_id)}`)).body;
    expect(done.status).toBe("failed");
    expect(done.completed_rows).toBeLessThan(20);
    expect((await call("GET", "/__sandbox/users")).body).toHaveLength(done.completed_rows);
  });

  test("latency delays the answer", async () => {
    const { call } = setup();
    await call("POST", "/__sandbox/faults", { latencyRate: 1, latencyMs: 1 });
    await call("GET", "/v1/background_jobs");
    expect((await call("GET", "/__sandbox/stats")).body.faults.delayed).toBe(1);
  });

  test("the processing rate can be changed for the jobs that follow", async () => {
    const { call, tick } = setup();
    expect((await call("POST", "/__sandbox/config", { rowsPerMinute: 0 })).status).toBe(400);
    expect((await call("POST", "/__sandbox/config", { rowsPerMinute: 60_000, queueMs: 0 })).body)
      .toMatchObject({
        rowsPerMinute: 60_000,
        queueMs: 0,
      });
    const { body: job } = await call("POST", "/v1/users/bulk_identify", { users: users(100) });
    tick(100); // 1 ms a row
    expect((await call("GET", `/v1/background_jobs/${encodeURIComponent(job.job_id)}`)).body.status).toBe(
      "completed",
    );
  });

  test("bad fault settings are refused; reset clears everything", async () => {
    const { call, tick } = setup();
    expect((await call("POST", "/__sandbox/faults", { rate429: 2 })).status).toBe(400);
    expect((await call("POST", "/__sandbox/faults", { typo: 1 })).status).toBe(400);
    await call("POST", "/__sandbox/faults", { rate5xx: 1 });
    await call("POST", "/__sandbox/reset");
    expect((await call("GET", "/__sandbox/faults")).body.rate5xx).toBe(0);
    await call("POST", "/v1/users/bulk_identify", { users: users(1) });
    tick(1000);
    expect((await call("GET", "/__sandbox/stats")).body).toMatchObject({
      requests: 1,
      jobs: { created: 1, completed: 1 },
    });
  });
});

describe("real-time endpoints", () => {
  const realtime = { ...auth, "X-API-Version": "2020-09-22" };

  test("identify applies at once, with the company shape; X-API-Version is required", async () => {
    const { call } = setup();
    expect((await call("POST", "/v1/identify", { user_id: "r" })).status).toBe(400);
    const ok = await call("POST", "/v1/identify", {
      user_id: "r",
      metadata: { a: 1 },
      company: { id: "c", plan: "pro" },
    }, realtime);
    expect(ok.status).toBe(202);
    expect((await call("GET", "/__sandbox/users/r")).body).toEqual({
      user_id: "r",
      company_id: "c",
      metadata: { a: 1 },
    });
    expect((await call("GET", "/__sandbox/companies/c")).body).toEqual({
      company_id: "c",
      metadata: { plan: "pro" },
    });
  });

  test("600 calls a minute per token, then 429", async () => {
    const { call, tick } = setup();
    for (let i = 0; i < 600; i++) {
      await call("POST", "/v1/track", { user_id: "r", event_name: "e" }, realtime);
    }
    const limited = await call("POST", "/v1/track", { user_id: "r", event_name: "e" }, realtime);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("Retry-After"))).toBeGreaterThan(0);
    tick(60_001);
    expect((await call("POST", "/v1/track", { user_id: "r", event_name: "e" }, realtime)).status).toBe(202);
  });

  test("track records each event in order, and whether Userpilot knew the user then", async () => {
    const { call } = setup();
    await call("POST", "/v1/track", { user_id: "ghost", event_name: "early" }, realtime);
    await call("POST", "/v1/identify", { user_id: "ghost" }, realtime);
    await call("POST", "/v1/track", { user_id: "ghost", event_name: "late", metadata: { n: 1 } }, realtime);
    expect(
      (await call("POST", "/v1/track", { user_id: "g", event_name: "e", metadata: { x: {} } }, realtime))
        .status,
    ).toBe(400);
    expect((await call("GET", "/__sandbox/events")).body).toEqual([
      { user_id: "ghost", event_name: "early", metadata: {}, at: expect.any(String), known: false },
      { user_id: "ghost", event_name: "late", metadata: { n: 1 }, at: expect.any(String), known: true },
    ]);
  });

  test("GET /v1/users answers a valid key (the integrations' credential check), 401 otherwise", async () => {
    const { call } = setup();
    expect((await call("GET", "/v1/users", undefined, realtime)).status).toBe(200);
    expect((await call("GET", "/v1/users", undefined, { Authorization: "Token nope" })).status).toBe(401);
  });
});

describe("deletes", () => {
  const realtime = { ...auth, "X-API-Version": "2020-09-22" };

  test("a delete is scheduled (202), paced at one request every 2 seconds, and run by the daily job", async () => {
    const { call, tick } = setup();
    await call("POST", "/v1/identify", { user_id: "gone" }, realtime);
    await call("POST", "/v1/companies/identify", { company_id: "gone-co" }, realtime);
    expect((await call("DELETE", "/v1/users", { users: ["gone"] })).status).toBe(400); // no X-API-Version
    const first = await call("DELETE", "/v1/users", { users: ["gone"] }, realtime);
    expect(first.status).toBe(202);
    expect(first.body.message).toMatch(/1 users scheduled/);
    const tooSoon = await call("DELETE", "/v1/companies", { companies: ["gone-co"] }, realtime);
    expect(tooSoon.status).toBe(429);
    expect(Number(tooSoon.headers.get("Retry-After"))).toBe(2);
    tick(2_000);
    expect((await call("DELETE", "/v1/companies", { companies: ["gone-co"] }, realtime)).status).toBe(202);
    tick(2_000);
    expect((await call("DELETE", "/v1/users", { users: [] }, realtime)).status).toBe(400);
    // Scheduled, not done: profiles stay until the daily job runs.
    expect((await call("GET", "/__sandbox/users/gone")).status).toBe(200);
    expect((await call("GET", "/__sandbox/deletions")).body).toEqual([
      { kind: "users", ids: ["gone"], at: expect.any(String), ran: false },
      { kind: "companies", ids: ["gone-co"], at: expect.any(String), ran: false },
    ]);
    expect((await call("POST", "/__sandbox/run-deletions")).body).toEqual({ deleted: 2 });
    expect((await call("GET", "/__sandbox/users/gone")).status).toBe(404);
    expect((await call("GET", "/__sandbox/companies/gone-co")).status).toBe(404);
  });
});
