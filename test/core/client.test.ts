import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import {
  type BulkProgress,
  HTTPError,
  JobFailedError,
  NetworkError,
  RateLimitError,
  TimeoutError,
  UserpilotClient,
  type UserpilotClientOptions,
  ValidationError,
} from "../../mod.ts";

type Handler = (request: Request) => Response | Promise<Response>;

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
const job = (id: string, status: string, extra: Record<string, unknown> = {}) => ({
  job_id: id,
  status,
  ...extra,
});

/** A fetch that answers from a script, one handler per call, and records every request. */
function scripted(...handlers: Handler[]) {
  const calls: { method: string; url: string; body: string }[] = [];
  const fetch = async (request: Request): Promise<Response> => {
    calls.push({ method: request.method, url: request.url, body: await request.text() });
    const handler = handlers.shift();
    if (handler === undefined) throw new Error(`unexpected call ${request.method} ${request.url}`);
    return handler(request);
  };
  return { fetch, calls };
}

function client(fetch: UserpilotClientOptions["fetch"], options: Partial<UserpilotClientOptions> = {}) {
  return new UserpilotClient({
    apiKey: "test-key",
    fetch,
    random: () => 0.5,
    pollIntervalMs: 1000,
    ...options,
  });
}

/** Run a promise to completion under fake timers, returning its outcome. */
async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  const outcome = promise.then((value) => ({ value }), (error: unknown) => ({ error }));
  await vi.runAllTimersAsync();
  return outcome;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("retries under the policy", () => {
  test("429 waits at least Retry-After, then succeeds", async () => {
    const { fetch, calls } = scripted(
      () => json(429, { errors: [] }, { "Retry-After": "3" }),
      () => json(202, job("j1", "queued")),
      () => json(200, job("j1", "completed")),
    );
    const events: BulkProgress[] = [];
    const started = Date.now();
    const result = await settle(
      client(fetch).bulkIdentifyUsers([{ user_id: "u" }], { onProgress: (e) => events.push(e) }),
    );
    expect(result.value?.jobs).toEqual([job("j1", "completed")]);
    expect(events.filter((e) => e.type === "retry")).toEqual([
      { type: "retry", attempt: 1, delayMs: 3000, reason: expect.stringMatching(/429/) },
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(calls.map((c) => c.method)).toEqual(["POST", "POST", "GET"]);
  });

  test("5xx backs off exponentially with full jitter and gives up after maxAttempts", async () => {
    const { fetch, calls } = scripted(
      ...Array.from({ length: 4 }, () => () => new Response("oops", { status: 503 })),
    );
    const delays: number[] = [];
    const result = await settle(
      client(fetch, { retry: { maxAttempts: 4 } }).bulkIdentifyUsers([{ user_id: "u" }], {
        onProgress: (e) => e.type === "retry" && delays.push(e.delayMs),
      }),
    );
    expect(delays).toEqual([500, 1000, 2000]); // random() = 0.5 of 1 s, 2 s, 4 s
    expect(calls).toHaveLength(4);
    expect(result.error).toBeInstanceOf(HTTPError);
    expect((result.error as HTTPError).status).toBe(503);
  });

  test("a 429 that never clears ends in RateLimitError carrying Retry-After", async () => {
    const { fetch } = scripted(
      () => json(429, {}, { "Retry-After": "2" }),
      () => json(429, {}, { "Retry-After": "2" }),
    );
    const result = await settle(client(fetch, { retry: { maxAttempts: 2 } }).getJob("j"));
    expect(result.error).toBeInstanceOf(RateLimitError);
    expect((result.error as RateLimitError).retryAfterMs).toBe(2000);
  });

  test("network errors and cut-off bodies are retried as NetworkError", async () => {
    const broken = new ReadableStream({
      pull(controller) {
        controller.error(new Error("reset"));
      },
    });
    const { fetch } = scripted(
      () => Promise.reject(new TypeError("fetch failed")),
      () => new Response(broken, { status: 200 }),
      () => json(202, job("j", "queued")),
      () => Promise.reject(new TypeError("fetch failed")),
      () => json(200, job("j", "completed")),
    );
    const reasons: string[] = [];
    const c = client(fetch);
    const result = await settle(
      c.bulkIdentifyUsers([{ user_id: "u" }], {
        onProgress: (e) => e.type === "retry" && reasons.push(e.reason),
      }),
    );
    expect(result.value?.jobs).toEqual([job("j", "completed")]);
    expect(reasons).toEqual([
      expect.stringMatching(/^POST .* no response/),
      expect.stringMatching(/^POST .* cut off/),
      expect.stringMatching(/^GET .* no response/),
    ]);
    const { fetch: failing } = scripted(() => Promise.reject(new TypeError("fetch failed")));
    const error = (await settle(client(failing, { retry: false }).getJob("j"))).error;
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).cause).toBeInstanceOf(TypeError);
  });

  test("an attempt that hangs times out after timeoutMs and is retried", async () => {
    const { fetch, calls } = scripted(
      () => new Promise<Response>(() => {}),
      () => json(200, job("j", "completed")),
    );
    const result = await settle(client(fetch, { timeoutMs: 2000 }).getJob("j"));
    expect(result.value).toEqual(job("j", "completed"));
    expect(calls).toHaveLength(2);
    const { fetch: hanging } = scripted(() => new Promise<Response>(() => {}));
    const error = (await settle(client(hanging, { timeoutMs: 2000, retry: false }).getJob("j"))).error;
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).timeoutMs).toBe(2000);
  });

  test("401, 403 and other answers no retry can change fail at once, and never show the key", async () => {
    const body = {
      errors: [{ details: "x", error: "Forbidden", error_code: "forbidden", message: "not allowed" }],
    };
    const { fetch, calls } = scripted(() => json(403, body));
    const error = (await settle(client(fetch).bulkIdentifyUsers([{ user_id: "u" }]))).error as HTTPError;
    expect(calls).toHaveLength(1);
    expect(error).toBeInstanceOf(HTTPError);
    expect(error.errors).toEqual(body.errors);
    // The message names the status and Userpilot's error code; Userpilot's own text (which may
    // quote a submitted value) stays in `errors`.
    expect(error.message).toMatch(/answered 403 \(forbidden\)$/);
    expect(error.message).not.toContain("not allowed");
    const { fetch: echoing } = scripted(() => json(401, { errors: [{ message: "bad token test-key" }] }));
    const echoed = (await settle(client(echoing).getJob("j"))).error as HTTPError;
    expect(`${echoed.message}${echoed.body}`).not.toContain("test-key");
    expect(echoed.message).toMatch(/NX- app token/);
  });

  test("the caller's signal stops a backoff at once with its reason", async () => {
    const { fetch } = scripted(() => new Response("", { status: 500 }));
    const controller = new AbortController();
    const promise = client(fetch).getJob("j", { signal: controller.signal });
    const outcome = promise.then(() => "resolved", (error: unknown) => error);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new Error("stop"));
    expect(((await outcome) as Error).message).toBe("stop");
  });
});

describe("jobs", () => {
  test("waitForJob polls with the id as one encoded path segment until completed", async () => {
    const id = "bulk:jobs:NX-ac54070e:c6f91301-54c1-4df7-a077-b34715c38875";
    const { fetch, calls } = scripted(
      () => json(200, job(id, "queued")),
      () => json(200, job(id, "processing", { completed_rows: 5 })),
      () => json(200, job(id, "completed")),
    );
    const seen: string[] = [];
    const result = await settle(client(fetch).waitForJob(id, { onProgress: (j) => seen.push(j.status) }));
    expect(result.value?.status).toBe("completed");
    expect(seen).toEqual(["queued", "processing", "completed"]);
    expect(calls[0]!.url).toBe(
      "https://analytex.userpilot.io/v1/background_jobs/bulk%3Ajobs%3ANX-ac54070e%3Ac6f91301-54c1-4df7-a077-b34715c38875",
    );
  });

  test("a job seen to be nearly done is polled again just after its projected end", async () => {
    const polledAt: number[] = [];
    const at = (body: unknown) => () => {
      polledAt.push(Date.now());
      return json(200, body);
    };
    const { fetch } = scripted(
      at(job("j", "processing", { completed_rows: 0, total_rows: 1_000 })),
      at(job("j", "processing", { completed_rows: 900, total_rows: 1_000 })),
      at(job("j", "completed", { completed_rows: 1_000, total_rows: 1_000 })),
    );
    const result = await settle(client(fetch, { pollIntervalMs: 5_000 }).waitForJob("j"));
    expect(result.value?.status).toBe("completed");
    const waits = polledAt.slice(1).map((t, i) => t - polledAt[i]!);
    // 900 rows in 5 s: the last 100 take about 556 ms, so the next poll comes after 567 ms, not 5 s.
    expect(waits).toEqual([5_000, 567]);
  });

  test("a failed job raises JobFailedError from waitForJob", async () => {
    const { fetch } = scripted(() => json(200, job("j", "failed")));
    const error = (await settle(client(fetch).waitForJob("j"))).error;
    expect(error).toBeInstanceOf(JobFailedError);
    expect((error as JobFailedError).job.job_id).toBe("j");
  });

  test("a failed job is resent, and after jobAttempts the error lists the jobs already completed", async () => {
    const { fetch, calls } = scripted(
      () => json(202, job("a", "queued")),
      () => json(200, job("a", "completed")),
      () => json(202, job("b1", "queued")),
      () => json(200, job("b1", "failed")),
      () => json(202, job("b2", "queued")),
      () => json(200, job("b2", "failed")),
    );
    const rows = [{ user_id: "1" }, { user_id: "2" }];
    const error =
      (await settle(client(fetch, { retry: { jobAttempts: 2 } }).bulkIdentifyUsers(rows, { maxRows: 1 })))
        .error as JobFailedError;
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error.job.job_id).toBe("b2");
    expect(error.completedJobs.map((j) => j.job_id)).toEqual(["a"]);
    expect(calls.filter((c) => c.method === "POST").map((c) => JSON.parse(c.body).users[0].user_id)).toEqual([
      "1",
      "2",
      "2",
    ]);
  });

  test("409: waits at least the poll interval between tries, reports the wait, then submits", async () => {
    const { fetch, calls } = scripted(
      () => json(409, { errors: [{ message: "job running" }] }),
      () => json(409, { errors: [{ message: "job running" }] }),
      () => json(202, job("mine", "queued")),
      () => json(200, job("mine", "completed")),
    );
    const waits: BulkProgress[] = [];
    const started = Date.now();
    const result = await settle(
      client(fetch).bulkIdentifyUsers([{ user_id: "u" }], {
        onProgress: (e) => e.type === "waiting" && waits.push(e),
      }),
    );
    expect(result.value?.jobs.map((j) => j.job_id)).toEqual(["mine"]);
    expect(waits).toEqual([{ type: "waiting", reason: "conflict" }, { type: "waiting", reason: "conflict" }]);
    // Fake time: two waits of at least the 1,000 ms poll interval, then the job's first poll.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(calls.map((c) => `${c.method} ${new URL(c.url).pathname}`)).toEqual([
      "POST /v1/users/bulk_identify",
      "POST /v1/users/bulk_identify",
      "POST /v1/users/bulk_identify",
      "GET /v1/background_jobs/mine",
    ]);
  });

  test("409 that outlasts conflictTimeoutMs fails with the 409", async () => {
    let posts = 0;
    const fetch = () => {
      posts++;
      return Promise.resolve(json(409, { errors: [{ message: "running" }] }));
    };
    const error = (await settle(
      client(fetch, { retry: { conflictTimeoutMs: 10_000 } }).bulkIdentifyUsers([{ user_id: "u" }]),
    ))
      .error as HTTPError;
    expect(error.status).toBe(409);
    expect(posts).toBeGreaterThan(1);
    expect(posts).toBeLessThanOrEqual(11); // at least a 1 s poll interval apart, for the 10 s allowed
  });

  test("413 splits the chunk in halves and sends each as its own job", async () => {
    const { fetch, calls } = scripted(
      () => json(413, {}),
      () => json(202, job("h1", "queued")),
      () => json(200, job("h1", "completed")),
      () => json(202, job("h2", "queued")),
      () => json(200, job("h2", "completed")),
    );
    const rows = [{ user_id: "1" }, { user_id: "2" }, { user_id: "3" }];
    const result = await settle(client(fetch).bulkIdentifyUsers(rows));
    expect(result.value?.jobs.map((j) => j.job_id)).toEqual(["h1", "h2"]);
    const posted = calls.filter((c) => c.method === "POST").map((c) => JSON.parse(c.body).users.length);
    expect(posted).toEqual([3, 2, 1]);
  });

  test("strict mode sends nothing when any row is bad", async () => {
    const { fetch, calls } = scripted();
    const error =
      (await settle(client(fetch).bulkIdentifyUsers([{ user_id: "ok" }, { user_id: "" }], { strict: true })))
        .error as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.issues).toEqual([{ index: 1, path: "user_id", message: "user_id must not be empty" }]);
    expect(calls).toHaveLength(0);
  });

  test("a 202 without a job id is an error, not a silent success", async () => {
    const { fetch } = scripted(() => json(202, { ok: true }));
    const error = (await settle(client(fetch).bulkIdentifyUsers([{ user_id: "u" }]))).error as Error;
    expect(error.message).toMatch(/no job_id or status/);
  });
});

describe("submitJob", () => {
  test("one POST, no waiting: 409 and 413 come back as HTTPError for the caller to schedule", async () => {
    const { fetch, calls } = scripted(
      () => json(202, job("j", "queued")),
      () => json(409, { errors: [{ message: "running" }] }),
      () => json(413, {}),
    );
    const c = client(fetch);
    expect((await settle(c.submitJob("companies", [{ company_id: "acme" }]))).value).toEqual(
      job("j", "queued"),
    );
    expect(JSON.parse(calls[0]!.body)).toEqual({ companies: [{ company_id: "acme" }] });
    expect(((await settle(c.submitJob("users", [{ user_id: "u" }]))).error as HTTPError).status).toBe(409);
    expect(((await settle(c.submitJob("users", [{ user_id: "u" }]))).error as HTTPError).status).toBe(413);
    expect(calls).toHaveLength(3);
  });
});

describe("configuration", () => {
  test("fromEnv names the missing variable and reads the base URL", () => {
    expect(() => UserpilotClient.fromEnv({})).toThrow("Missing environment variable: USERPILOT_API_KEY");
    expect(UserpilotClient.fromEnv({ USERPILOT_API_KEY: "k", USERPILOT_BASE_URL: "eu" }).baseUrl).toBe(
      "https://analytex-eu.userpilot.io",
    );
    expect(UserpilotClient.fromEnv({ USERPILOT_API_KEY: "k", USERPILOT_BASE_URL: "" }).baseUrl).toBe(
      "https://analytex.userpilot.io",
    );
  });

  test("GET requests carry the key and Accept, but no Content-Type", async () => {
    let seen: Headers | undefined;
    const fetch = (request: Request) => {
      seen = request.headers;
      return Promise.resolve(json(200, job("j", "completed")));
    };
    await client(fetch).getJob("j");
    expect(seen?.get("Authorization")).toBe("Token test-key");
    expect(seen?.get("Accept")).toBe("application/json, text/plain, */*");
    expect(seen?.has("Content-Type")).toBe(false);
  });
});

describe("properties Userpilot sets itself", () => {
  test("a bulk call sends first_seen_at / last_seen_at as given, with one warning event per property", async () => {
    const { fetch, calls } = scripted(
      () => json(202, job("j1", "queued")),
      () => json(200, job("j1", "completed")),
    );
    const events: BulkProgress[] = [];
    const call = client(fetch).bulkIdentifyUsers([
      { user_id: "a", metadata: { plan: "pro" } },
      { user_id: "b", metadata: { last_seen_at: "2024-05-01" } },
      { user_id: "c", metadata: { last_seen_at: null, first_seen_at: "2024-01-01" } },
    ], { onProgress: (event) => events.push(event) });
    expect((await settle(call)).error).toBeUndefined();
    expect(JSON.parse(calls[0]!.body).users.slice(1)).toEqual([
      { user_id: "b", metadata: { last_seen_at: "2024-05-01" } },
      { user_id: "c", metadata: { last_seen_at: null, first_seen_at: "2024-01-01" } },
    ]);
    expect(events.filter((event) => event.type === "warning")).toEqual([
      {
        type: "warning",
        index: 1,
        message: expect.stringMatching(/^metadata\.last_seen_at is set by Userpilot itself/),
      },
      {
        type: "warning",
        index: 2,
        message: expect.stringMatching(/^metadata\.first_seen_at is set by Userpilot itself/),
      },
    ]);
  });
});
