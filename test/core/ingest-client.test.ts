import { Webhook } from "standardwebhooks";
import { describe, expect, test } from "vitest";
import {
  createIngestClient,
  type HTTPError,
  isRequestId,
  type UserInput,
  type UserpilotError,
  ValidationError,
  verifySignature,
} from "../../mod.ts";

type Seen = { url: string; headers: Headers; body: string };

const SECRET = "whsec_YS1zZWNyZXQtb2YtdGhpcnR5LXR3by1ieXRlcy1vayE=";

function endpoint(...statuses: number[]) {
  const seen: Seen[] = [];
  const fetch = async (request: Request) => {
    seen.push({ url: request.url, headers: request.headers, body: await request.text() });
    const status = statuses.shift() ?? 202;
    return new Response(JSON.stringify(status === 202 ? { accepted: 1 } : { error: "x" }), { status });
  };
  return { seen, fetch };
}

describe("createIngestClient", () => {
  test("calls made before flush go as one POST per kind, with the bearer key", async () => {
    const { seen, fetch } = endpoint();
    const client = createIngestClient({ url: "https://ingest.example.com/", key: "k1" }, { fetch });
    client.identify({ user_id: "a", metadata: { plan: "free" } });
    client.identify({ user_id: "b" });
    client.identify({ user_id: "a", metadata: { plan: "pro" } });
    client.identifyCompany({ company_id: "acme" });
    expect(await client.flush()).toEqual({ sent: 3, failed: 0, pending: 0 });
    expect(seen.map((s) => s.url)).toEqual([
      "https://ingest.example.com/v1/users/bulk_identify",
      "https://ingest.example.com/v1/companies/bulk_identify",
    ]);
    expect(seen[0]!.headers.get("Authorization")).toBe("Bearer k1");
    expect(JSON.parse(seen[0]!.body)).toEqual({
      users: [{ user_id: "a", metadata: { plan: "pro" } }, { user_id: "b" }],
    });
    expect(await client.flush()).toEqual({ sent: 0, failed: 0, pending: 0 });
    expect(seen).toHaveLength(2);
  });

  test("with a signing secret each request is signed the Standard Webhooks way; a retry reuses the id", async () => {
    const { seen, fetch } = endpoint(503, 202);
    const client = createIngestClient(
      { url: "https://ingest.example.com", signingSecret: SECRET },
      { fetch, retry: { baseDelayMs: 1, maxDelayMs: 1 } },
    );
    client.identify({ user_id: "a" });
    expect(await client.flush()).toEqual({ sent: 1, failed: 0, pending: 0 });
    expect(seen).toHaveLength(2);
    for (const { body, headers } of seen) {
      expect((await verifySignature(SECRET, body, headers)).valid).toBe(true);
      // Interoperable: the standardwebhooks package verifies it too.
      expect(new Webhook(SECRET).verify(body, Object.fromEntries(headers))).toEqual({
        users: [{ user_id: "a" }],
      });
    }
    expect(seen[0]!.headers.get("webhook-id")).toMatch(/^msg_/);
    expect(seen[1]!.headers.get("webhook-id")).toBe(seen[0]!.headers.get("webhook-id"));
    // The next call is another request, with another id.
    client.identify({ user_id: "a" });
    await client.flush();
    expect(seen[2]!.headers.get("webhook-id")).not.toBe(seen[0]!.headers.get("webhook-id"));
  });

  test("with a bearer key each call carries an Idempotency-Key, the same on every retry", async () => {
    const { seen, fetch } = endpoint(500, 429, 202, 202);
    const client = createIngestClient({ url: "https://ingest.example.com", key: "k" }, {
      fetch,
      retry: { baseDelayMs: 1, maxDelayMs: 1 },
    });
    client.identify({ user_id: "a" });
    client.identifyCompany({ company_id: "c" });
    expect(await client.flush()).toEqual({ sent: 2, failed: 0, pending: 0 });
    const keys = seen.map((s) => s.headers.get("Idempotency-Key"));
    expect(keys.every(isRequestId)).toBe(true);
    expect(keys.slice(0, 3)).toEqual([keys[0], keys[0], keys[0]]);
    expect(keys[3]).not.toBe(keys[0]);
  });

  test("a signing secret that is not a whsec_ value is refused at construction, without quoting it", () => {
    expect(() => createIngestClient({ url: "https://x.example.com", signingSecret: "plain-secret" })).toThrow(
      /signingSecret must look like whsec_/,
    );
    expect(() => createIngestClient({ url: "https://x.example.com", signingSecret: "plain-secret" })).not
      .toThrow(
        /plain-secret/,
      );
  });

  test("the row sent is the one given to identify, even if the caller changes its object later", async () => {
    const { seen, fetch } = endpoint();
    const client = createIngestClient({ url: "https://ingest.example.com", key: "k" }, { fetch });
    const user: UserInput = {
      user_id: "a",
      metadata: { plan: "pro" },
    };
    client.identify(user);
    user.user_id = "";
    expect(await client.flush()).toEqual({ sent: 1, failed: 0, pending: 0 });
    expect(JSON.parse(seen[0]!.body)).toEqual({ users: [{ user_id: "a", metadata: { plan: "pro" } }] });
  });

  test("with waitUntil the send happens on its own, batched, after the current task", async () => {
    const { seen, fetch } = endpoint();
    const pending: Promise<unknown>[] = [];
    const client = createIngestClient({ url: "https://ingest.example.com", key: "k" }, {
      fetch,
      waitUntil: (promise) => pending.push(promise),
    });
    client.identify({ user_id: "a" });
    client.identify({ user_id: "b" });
    expect(seen).toHaveLength(0); // nothing on the request path
    expect(pending).toHaveLength(1);
    expect(await pending[0]).toEqual({ sent: 2, failed: 0, pending: 0 });
    expect(seen).toHaveLength(1);
  });

  test("failures are reported, never thrown: bad rows, refused and failed sends", async () => {
    const { fetch } = endpoint(400, 503, 503, 503);
    const errors: UserpilotError[] = [];
    const client = createIngestClient({ url: "https://ingest.example.com", key: "k" }, {
      fetch,
      onError: (error) => errors.push(error),
      retry: { baseDelayMs: 1, maxDelayMs: 1 },
    });
    client.identify({ user_id: "", metadata: { secret: "do-not-leak" } });
    expect(errors[0]).toBeInstanceOf(ValidationError);
    expect(JSON.stringify((errors[0] as ValidationError).issues)).not.toContain("do-not-leak");
    client.identify({ user_id: "a" });
    expect(await client.flush()).toEqual({ sent: 0, failed: 1, pending: 0 });
    client.identify({ user_id: "b" });
    expect(await client.flush()).toEqual({ sent: 0, failed: 1, pending: 0 });
    expect(errors.slice(1).map((e) => (e as HTTPError).status)).toEqual([400, 503]);
    const throwing = createIngestClient({ url: "https://ingest.example.com", key: "k" }, {
      fetch: () => Promise.reject(new TypeError("offline")),
      retry: false,
      onError: () => {
        throw new Error("callback bug");
      },
    });
    throwing.identify({ user_id: "a" });
    expect(await throwing.flush()).toEqual({ sent: 0, failed: 1, pending: 0 });
  });

  test("refuses a target with no credential or a bad url at construction", () => {
    expect(() => createIngestClient({ url: "https://x.example.com", key: "" })).toThrow(
      /key or a signingSecret/,
    );
    expect(() => createIngestClient({ url: "not a url", key: "k" })).toThrow(/could not be parsed/);
  });
});
