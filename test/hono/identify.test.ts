import { Hono } from "hono";
import { describe, expect, test } from "vitest";
import { type IngestTarget, type UserInput, verifySignature } from "../../mod.ts";
import { userpilotIdentify } from "../../src/hono/mod.ts";
import { RecentDigests } from "../../src/hono/recent-digests.ts";

function setup(
  statuses: number | number[] = 202,
  ingest: IngestTarget = { url: "https://ingest.example.com", key: "k" },
) {
  const sent: unknown[] = [];
  const requests: { headers: Headers; body: string }[] = [];
  const errors: unknown[] = [];
  const app = new Hono<{ Variables: { user?: { id: string; plan: string } } }>();
  app.use(async (c, next) => {
    const id = c.req.header("X-User");
    if (id) c.set("user", { id, plan: c.req.header("X-Plan") ?? "free" });
    await next();
  });
  app.use(
    userpilotIdentify({
      ingest,
      getUser: (c) => {
        const user = c.get("user");
        return user && { user_id: user.id, metadata: { plan: user.plan } };
      },
      fetch: async (request) => {
        const body = await request.text();
        sent.push(JSON.parse(body));
        requests.push({ headers: request.headers, body });
        return new Response("{}", {
          status: typeof statuses === "number" ? statuses : statuses.shift() ?? 202,
        });
      },
      onError: (error) => errors.push(error),
    }),
  );
  app.get("/", (c) => c.text("page"));
  const waits: Promise<unknown>[] = [];
  const ctx = {
    waitUntil: (promise: Promise<unknown>) => waits.push(promise),
    passThroughOnException: () => {},
    props: {},
  };
  const visit = async (headers: Record<string, string>) => {
    const response = await app.fetch(new Request("https://app.example.com/", { headers }), {}, ctx);
    expect(await response.text()).toBe("page");
    await Promise.all(waits.splice(0));
  };
  return { sent, requests, errors, visit };
}

describe("userpilotIdentify", () => {
  test("identifies the current user in the background, once per distinct profile", async () => {
    const { sent, visit } = setup();
    await visit({ "X-User": "u1" });
    await visit({ "X-User": "u1" });
    await visit({ "X-User": "u1", "X-Plan": "pro" });
    await visit({});
    expect(sent).toEqual([
      { users: [{ user_id: "u1", metadata: { plan: "free" } }] },
      { users: [{ user_id: "u1", metadata: { plan: "pro" } }] },
    ]);
  });

  test("a user changing back and forth is sent every change (pro → free → pro)", async () => {
    const { sent, visit } = setup();
    await visit({ "X-User": "u1", "X-Plan": "pro" });
    await visit({ "X-User": "u1", "X-Plan": "free" });
    await visit({ "X-User": "u1", "X-Plan": "pro" });
    expect(sent.map((body) => (body as { users: { metadata: { plan: string } }[] }).users[0]!.metadata.plan))
      .toEqual([
        "pro",
        "free",
        "pro",
      ]);
  });

  test("a failing getUser or a bad ingest setting is reported, never a 500", async () => {
    const errors: unknown[] = [];
    for (
      const options of [
        // A bigint: refused by the types, and (for JavaScript callers) at run time.
        { getUser: () => ({ user_id: "u", metadata: { n: 10n } }) as unknown as UserInput },
        { getUser: () => ({ user_id: "u" }), ingest: () => ({ url: "not a url", key: "k" }) },
        { getUser: () => Promise.reject(new Error("session store down")) },
      ]
    ) {
      const app = new Hono();
      app.use(userpilotIdentify({
        ingest: { url: "https://ingest.example.com", key: "k" },
        fetch: () => Promise.resolve(new Response("{}", { status: 202 })),
        onError: (error) => errors.push(error),
        ...options,
      }));
      app.get("/", (c) => c.text("page"));
      const response = await app.fetch(new Request("https://app.example.com/"));
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("page");
    }
    expect(errors).toHaveLength(3);
  });

  test("a failed send is forgotten, so the next request tries again; the page never fails", async () => {
    const { sent, errors, visit } = setup(400);
    await visit({ "X-User": "u1" });
    await visit({ "X-User": "u1" });
    expect(sent).toHaveLength(2);
    expect(errors).toHaveLength(2);
  });

  test("each identify is one signed request whose retries reuse its webhook-id", async () => {
    const secret = "whsec_YS1zZWNyZXQtb2YtdGhpcnR5LXR3by1ieXRlcy1vayE=";
    const { requests, visit } = setup([503, 202, 202], {
      url: "https://ingest.example.com",
      signingSecret: secret,
    });
    await visit({ "X-User": "a" });
    await visit({ "X-User": "b" });
    const ids = requests.map(({ headers }) => headers.get("webhook-id"));
    for (const { headers, body } of requests) {
      expect((await verifySignature(secret, body, headers)).valid).toBe(true);
    }
    expect(ids).toHaveLength(3);
    expect(ids[1]).toBe(ids[0]); // the retry of the first request
    expect(ids[2]).not.toBe(ids[0]);
  });
});

describe("RecentDigests", () => {
  test("remembers the last digest per user, forgets after the TTL, holds at most its capacity", () => {
    let now = 0;
    const recent = new RecentDigests(2, 100, () => now);
    recent.remember("a", "1");
    recent.remember("b", "1");
    recent.remember("c", "1");
    expect([recent.isLatest("a", "1"), recent.isLatest("b", "1"), recent.isLatest("c", "1"), recent.size])
      .toEqual([
        false,
        true,
        true,
        2,
      ]);
    expect(recent.isLatest("b", "2")).toBe(false);
    recent.forget("b", "2"); // not what was sent last: kept
    expect(recent.isLatest("b", "1")).toBe(true);
    now = 150;
    expect(recent.isLatest("b", "1")).toBe(false);
  });
});
