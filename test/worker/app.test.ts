import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker, { type Env } from "../../src/worker/index.ts";
import { describe, expect, test, vi } from "vitest";
import { signPayload } from "../../mod.ts";
import {
  ADMIN_KEY,
  call,
  captureQueue,
  KEY,
  post,
  postSigned,
  SECRET_NEW,
  SECRET_OLD,
  TEST_KEYS,
} from "./helpers.ts";

const { sent, queuedRows } = captureQueue();

describe("open routes", () => {
  test("GET /health answers ok", async () => {
    const response = await call("/health");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  test("GET /health names a signing secret that is not a whsec_ value to an admin key, never the value itself", async () => {
    const secrets = `plain-old-secret,${SECRET_NEW},whsec_c2hvcnQ=`;
    const response = await worker.fetch(
      new Request("https://ingest.example.com/health", { headers: { Authorization: `Bearer ${ADMIN_KEY}` } }),
      { ...env, INGEST_SIGNING_SECRETS: secrets },
      createExecutionContext(),
    );
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      status: "misconfigured",
      problems: [
        "INGEST_SIGNING_SECRETS entry 1 must look like whsec_<base64>",
        "INGEST_SIGNING_SECRETS entry 3 must hold 24 to 64 bytes after whsec_, has 5",
      ],
    });
    for (const secret of secrets.split(",")) expect(text).not.toContain(secret.slice(6));
  });

  test("GET /health says only ok or not to a caller without an admin key", async () => {
    const broken = { ...env, INGEST_SIGNING_SECRETS: "plain-old-secret", ADMIN_KEYS: `ops:${ADMIN_KEY}` };
    const health = (env: Env, headers: Record<string, string> = {}) =>
      worker.fetch(
        new Request("https://ingest.example.com/health", { headers }),
        env,
        createExecutionContext(),
      );
    for (
      const headers of [{}, { Authorization: `Bearer ${KEY}` }, { Authorization: "Bearer not-an-admin-key" }]
    ) {
      const response = await health(broken, headers);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ status: "misconfigured" });
    }
    // Warnings are for operators too: ADMIN_KEYS unset is said to nobody but the logs.
    const unguarded = await health({ ...env, ADMIN_KEYS: "" });
    expect(await unguarded.json()).toEqual({ status: "ok" });
    // An admin key sees the problems even when another of its list's entries is malformed.
    const seen = await health({ ...broken, ADMIN_KEYS: `x,ops:${ADMIN_KEY}` }, {
      Authorization: `Bearer ${ADMIN_KEY}`,
    });
    expect(await seen.json()).toEqual({
      status: "misconfigured",
      problems: [
        "INGEST_SIGNING_SECRETS entry 1 must look like whsec_<base64>",
        "ADMIN_KEYS entry 1 is shorter than 32 characters (openssl rand -hex 32 makes a good key)",
      ],
    });
  });

  test("Cache-Control: no-store on every response that carries row values or status", async () => {
    const key = { Authorization: `Bearer ${ADMIN_KEY}` };
    const basic = { Authorization: `Basic ${btoa(`operator:${ADMIN_KEY}`)}` };
    const responses = {
      health: await call("/health"),
      status: await call("/v1/status", { headers: key }),
      list: await call("/v1/admin/set-aside", { headers: key }),
      export: await call("/v1/admin/set-aside/export", { headers: key }),
      page: await call("/admin", { headers: basic }),
      download: await call("/admin/set-aside.ndjson", { headers: basic }),
      accepted: await post("/v1/identify", { user_id: "u" }),
      refused: await post("/v1/identify", { user_id: "" }),
    };
    for (const [name, response] of Object.entries(responses)) {
      expect(response.headers.get("Cache-Control"), name).toBe("no-store");
      await response.arrayBuffer();
    }
  });

  test("GET /openapi.json is generated from the schemas", async () => {
    // deno-lint-ignore no-explicit-any
    const doc = (await (await call("/openapi.json")).json()) as Record<string, any>;
    expect(doc.openapi).toBe("3.0.3");
    const users = doc.paths["/v1/users/bulk_identify"].post.requestBody.content["application/json"].schema;
    expect(users.properties.users.maxItems).toBe(10_000);
    expect(users.properties.users.items.required).toEqual(["user_id"]);
    expect(users.properties.users.items.properties.user_id.maxLength).toBe(255);
    expect(
      doc.paths["/v1/identify"].post.requestBody.content["application/json"].schema.properties.company
        .required,
    ).toEqual(["id"]);
  });
});

// The operator's page routes answer HTML to a browser, not an API: they are listed apart
// (src/worker/page-routes.ts, and docs/endpoint.md's "Operator's page"), never in the OpenAPI document.
test("every route the app serves is in the OpenAPI document or is one of the page routes, and no other", async () => {
  const { createApp } = await import("../../src/worker/app.ts");
  const { openApiDocument } = await import("../../scripts/openapi/document.ts");
  const { ADMIN_PAGE_ENDPOINTS } = await import("../../src/worker/admin/page-routes.ts");
  const served = new Set(
    createApp().routes.filter((route) => route.method !== "ALL").map((route) =>
      `${route.method} ${route.path}`
    ),
  );
  const paths = openApiDocument()["paths"] as Record<string, Record<string, unknown>>;
  const described = Object.entries(paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`)
  );
  expect([...served].sort()).toEqual([...described, ...ADMIN_PAGE_ENDPOINTS, "GET /openapi.json"].sort());
});

describe("who may call", () => {
  test("every current bearer key works (rotation)", async () => {
    expect((await post("/v1/identify", { user_id: "u" }, KEY)).status).toBe(202);
    expect((await post("/v1/identify", { user_id: "u" }, TEST_KEYS.old)).status).toBe(202);
  });

  test("a body signed with any active secret works", async () => {
    expect((await postSigned("/v1/identify", { user_id: "u1" }, SECRET_NEW)).status).toBe(202);
    expect((await postSigned("/v1/identify", { user_id: "u2" }, SECRET_OLD)).status).toBe(202);
  });

  test("missing, wrong, expired and tampered credentials get the same bare 401", async () => {
    const body = JSON.stringify({ user_id: "u" });
    const valid = await signPayload(SECRET_NEW, body);
    const signed = (headers: Record<string, string>, sent = body) =>
      call("/v1/identify", {
        method: "POST",
        headers: { ...headers, "Content-Type": "application/json" },
        body: sent,
      });
    const attempts: Response[] = [
      await call("/v1/identify", { method: "POST", headers: { "Content-Type": "application/json" }, body }),
      await post("/v1/identify", { user_id: "u" }, "not-a-key"),
      await call("/v1/identify", {
        method: "POST",
        headers: { Authorization: "Token not-a-key", "Content-Type": "application/json" },
        body,
      }),
      await postSigned("/v1/identify", { user_id: "u" }, "whsec_bm90LXRoZS1zZWNyZXQtYXQtYWxsLTAwMDAwMDAw"),
      await postSigned("/v1/identify", { user_id: "u" }, SECRET_NEW, {
        timestamp: Math.floor(Date.now() / 1000) - 301,
      }),
      await signed(valid, body.replace("u", "v")),
      await signed({ ...valid, "webhook-id": "another-id" }),
      await signed({ ...valid, "webhook-timestamp": String(Number(valid["webhook-timestamp"]) + 1) }),
      await signed({ "webhook-id": valid["webhook-id"], "webhook-signature": valid["webhook-signature"] }),
    ];
    for (const response of attempts) {
      expect(response.status).toBe(401);
      // The same body every time (in Userpilot's shape too, on this Userpilot-compatible route).
      expect(await response.json()).toEqual({
        errors: [{
          details: null,
          error: "Unauthorized",
          error_code: "unauthorized",
          message: "unauthorized",
        }],
        error: "unauthorized",
      });
    }
    expect(sent).toEqual([]);
    expect((await signed(valid)).status).toBe(202);
    expect(queuedRows()).toEqual([{ user_id: "u" }]);
  });

  test("GET /v1/status is for operators: the admin key, never an ingest credential", async () => {
    expect((await call("/v1/status")).status).toBe(401);
    const ingest = await call("/v1/status", { headers: { Authorization: `Bearer ${KEY}` } });
    expect(ingest.status).toBe(401);
    expect(await ingest.json()).toEqual({ error: "unauthorized" });
    const ok = await call("/v1/status", { headers: { Authorization: `Bearer ${ADMIN_KEY}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      pending: { users: expect.any(Number) },
      setAside: { count: expect.any(Number) },
      estimatedDrainSeconds: expect.any(Number),
    });
  });

  test("an admin key cannot write: ingestion takes ingest credentials only", async () => {
    expect((await post("/v1/identify", { user_id: "u" }, ADMIN_KEY)).status).toBe(401);
    expect(queuedRows()).toHaveLength(0);
  });

  test("CORS answers only allowed origins", async () => {
    const preflight = (origin: string) =>
      call("/v1/identify", {
        method: "OPTIONS",
        headers: {
          Origin: origin,
          "Access-Control-Request-Method": "POST",
          "Access-Control-Request-Headers": "authorization",
        },
      });
    const allowed = await preflight("https://app.example.com");
    expect(allowed.headers.get("Access-Control-Allow-Origin")).toBe("https://app.example.com");
    const allowedHeaders = allowed.headers.get("Access-Control-Allow-Headers")?.toLowerCase().split(",") ??
      [];
    for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key"]) {
      expect(allowedHeaders).toContain(name);
    }
    const refused = await preflight("https://evil.example.com");
    expect(refused.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });

  test("the Userpilot key never appears in a response", async () => {
    const responses = await Promise.all([
      call("/health"),
      call("/openapi.json"),
      post("/v1/identify", { user_id: "" }),
    ]);
    for (const response of responses) expect(await response.text()).not.toContain(env.USERPILOT_API_KEY);
  });
});

describe("bad input queues nothing", () => {
  test.each([
    ["malformed JSON", '{"user_id":', 400, "invalid_json"],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), 400, "invalid_json"],
    ["an array body", [], 400, "invalid_request"],
  ])("%s → %i", async (_, body, status, error) => {
    const response = await call("/v1/identify", {
      method: "POST",
      headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
      body: body instanceof Uint8Array || typeof body === "string" ? body : JSON.stringify(body),
    });
    expect(response.status).toBe(status);
    expect(((await response.json()) as { error: string }).error).toBe(error);
    expect(sent).toEqual([]);
  });

  test("a non-JSON content type is 415", async () => {
    const response = await call("/v1/identify", {
      method: "POST",
      headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "text/plain" },
      body: '{"user_id":"u"}',
    });
    expect(response.status).toBe(415);
    expect(sent).toEqual([]);
  });

  test("a body over the limit is 413", async () => {
    const response = await post(
      "/v1/users/bulk_identify",
      JSON.stringify({ users: [{ user_id: "u", metadata: { pad: "x".repeat(5 * 1024 * 1024) } }] }),
    );
    expect(response.status).toBe(413);
    expect(sent).toEqual([]);
  });

  test("more than 10,000 rows is 413", async () => {
    const users = Array.from({ length: 10_001 }, (_, i) => ({ user_id: `u${i}` }));
    const response = await post("/v1/users/bulk_identify", { users });
    expect(response.status).toBe(413);
    expect(sent).toEqual([]);
  });

  test("one invalid row refuses the request, listing issues without values", async () => {
    const secret = "private-value-123";
    const response = await post("/v1/users/bulk_identify", {
      users: [{ user_id: "ok" }, { user_id: "bad", metadata: { nested: { secret } } }, { user_id: "" }],
    });
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body).toEqual({
      error: "invalid_request",
      issues: [
        { index: 1, path: "metadata.nested", message: expect.any(String) },
        { index: 2, path: "user_id", message: "user_id must not be empty" },
      ],
      issueCount: 2,
    });
    expect(JSON.stringify(body)).not.toContain(secret);
    expect(sent).toEqual([]);
  });

  test("A row with 150,000 invalid keys gets a 400 smaller than 64 KB on the endpoint", async () => {
    const metadata: Record<string, number> = {};
    for (let i = 0; i < 150_000; i++) metadata[`\u0001key_${i}`] = i;
    for (
      const [path, body] of [
        ["/v1/identify", { user_id: "u", metadata }],
        ["/v1/users/bulk_identify", { users: [{ user_id: "u" }, { user_id: "v", metadata }] }],
        ["/v1/identify", { user_id: "u", company: { id: "acme", ...metadata } }],
      ] as const
    ) {
      const response = await post(path, body);
      const text = await response.text();
      expect(response.status, text.slice(0, 200)).toBe(400);
      expect(new TextEncoder().encode(text).length).toBeLessThan(64 * 1024);
      const answer = JSON.parse(text) as { error: string; issueCount: number; issues: unknown[] };
      expect(answer.error).toBe("invalid_request");
      expect(answer.issues).toHaveLength(answer.issueCount);
      expect(answer.issues[0]).toMatchObject({ path: expect.stringMatching(/metadata$/) });
    }
    expect(sent).toEqual([]);
  });

  test("a 4.5 MB body of rows full of bad keys (332,800 issues) is a 400 smaller than 64 KB", async () => {
    const metadata = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`\u0001${i}`, i]));
    const users = Array.from({ length: 1300 }, (_, i) => ({ user_id: `u${i}`, metadata }));
    const response = await post("/v1/users/bulk_identify", { users });
    const text = await response.text();
    expect(response.status).toBe(400);
    expect(new TextEncoder().encode(text).length).toBeLessThan(64 * 1024);
    expect(JSON.parse(text)).toMatchObject({ issueCount: 1300 * 256 });
    expect(sent).toEqual([]);
  });

  test("a 400 lists the first 100 issues and counts them all", async () => {
    const users = Array.from(
      { length: 3000 },
      (_, i) => ({ user_id: "", metadata: { [`k${i}`]: { nested: i } } }),
    );
    const response = await post("/v1/users/bulk_identify", { users });
    const text = await response.text();
    expect(response.status).toBe(400);
    expect(new TextEncoder().encode(text).length).toBeLessThan(64 * 1024);
    const answer = JSON.parse(text) as { issueCount: number; issues: { index: number }[] };
    expect(answer.issueCount).toBe(6000);
    expect(answer.issues).toHaveLength(100);
    expect(answer.issues.map((issue) => issue.index)).toEqual(
      Array.from({ length: 50 }, (_, i) => [i, i]).flat(),
    );
    expect(sent).toEqual([]);
  });

  test("identify checks the company shape and agreement", async () => {
    expect((await post("/v1/identify", { user_id: "u", company: "acme" })).status).toBe(400);
    expect((await post("/v1/identify", { user_id: "u", company_id: "a", company: { id: "b" } })).status).toBe(
      400,
    );
    const nested = await post("/v1/identify", { user_id: "u", company: { id: "a", plan: { tier: 1 } } });
    expect(await nested.json()).toMatchObject({ issues: [{ path: "company.plan" }] });
    expect(sent).toEqual([]);
  });
});

describe("accepted input", () => {
  // The endpoint reads JSON itself rather than through Hono's validator, whose Content-Type check
  // differs between Hono 4 releases (4.12 refuses an upper-case type or a bare ";").
  test.each([
    "Application/JSON",
    "application/json;",
    "application/json ; charset=utf-8",
    "application/JSON;charset=UTF-8",
  ])(
    "Content-Type %s is JSON",
    async (type) => {
      const response = await call("/v1/users/bulk_identify", {
        method: "POST",
        headers: { Authorization: `Bearer ${KEY}`, "Content-Type": type },
        body: JSON.stringify({ users: [{ user_id: "typed", metadata: { plan: "pro" } }] }),
      });
      expect(response.status).toBe(202);
      expect(await response.json()).toEqual({ accepted: 1 });
    },
  );

  test("bulk rows are merged and packed into messages under 128 KB", async () => {
    const users = Array.from(
      { length: 3000 },
      (_, i) => ({ user_id: `u${i % 2000}`, metadata: { i, pad: "x".repeat(100) } }),
    );
    const response = await post("/v1/users/bulk_identify", { users });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ accepted: 3000 });
    const messages = sent.flat() as { body: { kind: string; rows: unknown[]; receivedAt: number } }[];
    expect(messages.length).toBeGreaterThan(1);
    for (const message of messages) {
      expect(new TextEncoder().encode(JSON.stringify(message.body)).length).toBeLessThan(128 * 1024);
    }
    for (const batch of sent) expect(batch.length).toBeLessThanOrEqual(100);
    expect(queuedRows()).toHaveLength(2000);
  });

  test("identify with Userpilot's company shape queues the user and the company", async () => {
    const response = await post("/v1/identify", {
      user_id: "u",
      metadata: { plan: "pro" },
      company: { id: "acme", size: 50 },
    });
    expect(response.status).toBe(202);
    const bodies = sent.flat().map((m) => (m as { body: { kind: string; rows: unknown[] } }).body);
    expect(bodies.map((b) => [b.kind, b.rows])).toEqual([
      ["users", [{ user_id: "u", company_id: "acme", metadata: { plan: "pro" } }]],
      ["companies", [{ company_id: "acme", metadata: { size: 50 } }]],
    ]);
  });

  test("a queue outage is a 503 to retry, not a lost 202", async () => {
    vi.mocked(env.INGEST_QUEUE.sendBatch).mockRejectedValueOnce(new Error("queue down"));
    const response = await post("/v1/identify", { user_id: "u" });
    expect(response.status).toBe(503);
    expect(response.headers.get("Retry-After")).toBe("1");
  });
});
