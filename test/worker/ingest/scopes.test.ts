import { createExecutionContext, reset } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { signPayload } from "../../../mod.ts";
import worker from "../../../src/worker/index.ts";
import fixture from "../../fixtures/integrations/requests.json" with { type: "json" };
import { call, deliveryStub, KEY, sandbox, SECRET_NEW, TEST_KEYS } from "../helpers.ts";

// Least privilege: what each credential may do is its scopes (test/support/credentials.ts gives
// `tester` identify, track and delete; `segment` identify and track; a bare key identify and track).

beforeEach(async () => {
  await reset();
  await sandbox("/__sandbox/reset", {});
  // Userpilot down: an accepted delete stays pending, where the tests count it.
  await sandbox("/__sandbox/faults", { rate5xx: 1 });
});

/** Segment's own request for `what`, sent with `key` as its `Token`. */
function segment(what: string, key: string): Promise<Response> {
  const request = fixture.requests.find((r) => r.source === "segment" && r.what.startsWith(what))!;
  const headers = { ...request.headers, Authorization: `Token ${key}` };
  return call(request.path, { method: request.method, headers, body: request.body });
}

afterEach(() => vi.restoreAllMocks());

const pendingDeletes = async () => (await (await deliveryStub()).status()).pending.deletions;

describe("ingest scopes", () => {
  test("a Token key with identify and track identifies and tracks as Segment does, and is refused a delete (403, nothing deleted)", async () => {
    expect((await segment("credential check", TEST_KEYS.segment)).status).toBe(200);
    expect((await segment("identify: traits", TEST_KEYS.segment)).status).toBe(202);
    expect((await segment("track", TEST_KEYS.segment)).status).toBe(202);
    const refused = await segment("onDelete", TEST_KEYS.segment);
    expect(refused.status).toBe(403);
    // In Userpilot's shape, as Segment reports Userpilot's own errors, saying which scope is missing.
    expect(await refused.json()).toEqual({
      errors: [{
        details: null,
        error: "Forbidden",
        error_code: "forbidden",
        message: "the credential segment may not delete: give it the delete scope in the settings",
      }],
      error: "forbidden",
      message: "the credential segment may not delete: give it the delete scope in the settings",
    });
    expect(await pendingDeletes()).toBe(0);
  });

  test("a key with the delete scope deletes, and the audit log line names that key's name (never the key)", async () => {
    const warn = vi.spyOn(console, "warn");
    expect((await segment("onDelete", KEY)).status).toBe(202);
    expect(await pendingDeletes()).toBe(1);
    const lines = warn.mock.calls.map((args) => String(args[0])).filter((line) =>
      line.includes('"event":"audit"')
    );
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      credential: "tester",
      action: "delete",
      route: "DELETE /v1/users",
      named: 1,
      taken: 1,
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(lines[0]).not.toContain(KEY);
    const { audit } = await (await deliveryStub()).overview({ limit: 1 });
    expect(audit.map(({ credential, action }) => ({ credential, action }))).toEqual([
      { credential: "tester", action: "delete" },
    ]);
  });

  test("a bare key, written as before scopes existed, still identifies and tracks; it may not delete", async () => {
    expect((await segment("identify: traits", TEST_KEYS.bare)).status).toBe(202);
    expect((await segment("track", TEST_KEYS.bare)).status).toBe(202);
    expect((await segment("onDelete", TEST_KEYS.bare)).status).toBe(403);
    const companies = await call("/v1/companies", {
      method: "DELETE",
      headers: { Authorization: `Bearer ${TEST_KEYS.bare}`, "Content-Type": "application/json" },
      body: JSON.stringify({ companies: ["acme"] }),
    });
    expect(companies.status).toBe(403);
    expect(await pendingDeletes()).toBe(0);
  });

  test("a signing secret's scopes hold too: a bare secret's signed delete is 403", async () => {
    const body = JSON.stringify({ users: ["signed-gone"] });
    const send = async (secrets: string) =>
      worker.fetch(
        new Request("https://ingest.example.com/v1/users", {
          method: "DELETE",
          headers: { ...(await signPayload(SECRET_NEW, body)), "Content-Type": "application/json" },
          body,
        }),
        { ...env, INGEST_SIGNING_SECRETS: secrets },
        createExecutionContext(),
      );
    expect((await send(SECRET_NEW)).status).toBe(403);
    expect(await pendingDeletes()).toBe(0);
    expect((await send(`edge:delete:${SECRET_NEW}`)).status).toBe(202);
    expect(await pendingDeletes()).toBe(1);
    const { audit } = await (await deliveryStub()).overview({ limit: 1 });
    expect(audit.map(({ credential, route }) => ({ credential, route }))).toEqual([
      { credential: "edge", route: "DELETE /v1/users" },
    ]);
  });

  test("a key with only track may not identify", async () => {
    const key = "f0e1d2c3b4a5968778695a4b3c2d1e0f";
    const response = await worker.fetch(
      new Request("https://ingest.example.com/v1/users/bulk_identify", {
        method: "POST",
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
        body: JSON.stringify({ users: [{ user_id: "u" }] }),
      }),
      { ...env, INGEST_KEYS: `events-only:track:${key}` },
      createExecutionContext(),
    );
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: "forbidden" });
  });
});
