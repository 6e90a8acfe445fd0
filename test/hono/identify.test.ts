import { type Context, Hono, type MiddlewareHandler } from "hono";
import { describe, expect, test } from "vitest";
import { createIngestClient, type IngestTarget, type UserInput, verifySignature } from "../../mod.ts";
import { userpilotIdentify, type UserpilotVariables } from "../../src/hono/mod.ts";
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

describe("userpilotIdentify on servers and in handlers", () => {
  /** A recording endpoint: each POST's path and body. */
  function recorder() {
    const posts: {
      path: string;
      body: { users?: { user_id: string; metadata?: Record<string, unknown> }[] };
    }[] = [];
    const fetch = async (request: Request): Promise<Response> => {
      posts.push({ path: new URL(request.url).pathname, body: JSON.parse(await request.text()) });
      return new Response('{"accepted":1}', { status: 202 });
    };
    return { posts, fetch };
  }

  type AppEnv = { Variables: { user?: { id: string; visit: number } } };
  function serverApp(middleware: MiddlewareHandler) {
    const app = new Hono<AppEnv>();
    app.use(async (c, next) => {
      c.set("user", { id: c.req.header("X-User")!, visit: Number(c.req.header("X-Visit")) });
      await next();
    });
    app.use(middleware);
    app.get("/", (c) => c.text("page"));
    return app;
  }
  const getUser = (c: Context<AppEnv>) => ({
    user_id: c.var.user!.id,
    metadata: { visit: c.var.user!.visit },
  });
  /** 1,000 requests over 100 users, ten waves in which each user visits once: the last visit is 9. */
  async function visits(app: Hono<AppEnv>): Promise<void> {
    for (let wave = 0; wave < 10; wave++) {
      await Promise.all(Array.from({ length: 100 }, async (_, user) => {
        const response = await app.fetch(
          new Request("http://app.local/", { headers: { "X-User": `u${user}`, "X-Visit": String(wave) } }),
        );
        expect(await response.text()).toBe("page");
      }));
    }
  }
  /** Each user's metadata as the endpoint merges the bodies, in order. */
  function merged(posts: ReturnType<typeof recorder>["posts"]): Map<string, unknown> {
    const profiles = new Map<string, unknown>();
    for (const { body } of posts) {
      for (const user of body.users ?? []) profiles.set(user.user_id, user.metadata);
    }
    return profiles;
  }

  test("a shared long-lived client: 1,000 requests over 100 users arrive in a handful of POSTs, and close() sends the rest", async () => {
    const { posts, fetch } = recorder();
    const client = createIngestClient({ url: "https://ingest.example.com", key: "k" }, {
      fetch,
      flushAt: 300,
      flushIntervalMs: 60_000,
    });
    await visits(serverApp(userpilotIdentify({ client, getUser })));
    expect(posts).toHaveLength(3); // at 300, 600 and 900 calls
    expect(await client.close()).toEqual({ sent: 400, failed: 0, pending: 0 }); // merged by user, per body
    expect(posts).toHaveLength(4);
    expect(posts.at(-1)!.body.users).toHaveLength(100);
    const profiles = merged(posts);
    expect(profiles.size).toBe(100);
    expect([...profiles.values()].every((metadata) => (metadata as { visit: number }).visit === 9)).toBe(
      true,
    );
  });

  test("with ingest on a server, the middleware makes one long-lived client and its close() sends what waits", async () => {
    const { posts, fetch } = recorder();
    const identify = userpilotIdentify({
      ingest: { url: "https://ingest.example.com", key: "k" },
      fetch,
      flushAt: 300,
      flushIntervalMs: 60_000,
      getUser,
    });
    await visits(serverApp(identify));
    expect(posts).toHaveLength(3);
    expect(await identify.close()).toEqual({ sent: 400, failed: 0, pending: 0 });
    expect(posts).toHaveLength(4);
    expect(merged(posts).size).toBe(100);
  });

  test("handlers call c.var.userpilot; on Workers a request's calls go together after the response", async () => {
    const { posts, fetch } = recorder();
    const app = new Hono<{ Variables: UserpilotVariables }>();
    app.use(userpilotIdentify({
      ingest: { url: "https://ingest.example.com", key: "k" },
      fetch,
      getUser: () => ({ user_id: "u1", metadata: { plan: "pro" } }),
    }));
    app.post("/invoices", (c) => {
      c.var.userpilot.identify({ user_id: "u2" });
      c.var.userpilot.identifyCompany({ company_id: "acme", metadata: { name: "Acme" } });
      c.var.userpilot.track({ user_id: "u1", event_name: "invoice_paid" });
      return c.body(null, 204);
    });
    const waits: Promise<unknown>[] = [];
    const ctx = {
      waitUntil: (promise: Promise<unknown>) => waits.push(promise),
      passThroughOnException: () => {},
      props: {},
    };
    const response = await app.fetch(
      new Request("https://app.example.com/invoices", { method: "POST" }),
      {},
      ctx,
    );
    expect(response.status).toBe(204);
    expect(posts).toEqual([]); // nothing on the request path
    await Promise.all(waits);
    expect(posts.map((post) => [post.path, post.body])).toEqual([
      ["/v1/users/bulk_identify", {
        users: [{ user_id: "u2" }, { user_id: "u1", metadata: { plan: "pro" } }],
      }],
      ["/v1/companies/bulk_identify", { companies: [{ company_id: "acme", metadata: { name: "Acme" } }] }],
      ["/v1/track", { user_id: "u1", event_name: "invoice_paid" }],
    ]);
  });

  test("a waitUntil that throws never breaks the response, and the profile is still sent", async () => {
    const { posts, fetch } = recorder();
    const errors: unknown[] = [];
    const app = new Hono();
    app.use(userpilotIdentify({
      ingest: { url: "https://ingest.example.com", key: "k" },
      fetch,
      getUser: () => ({ user_id: "u1" }),
      onError: (error) => errors.push(error),
    }));
    app.get("/", (c) => c.text("page"));
    const ctx = {
      waitUntil: () => {
        throw new Error("not in request context");
      },
      passThroughOnException: () => {},
      props: {},
    };
    const response = await app.fetch(new Request("https://app.example.com/"), {}, ctx);
    expect(await response.text()).toBe("page");
    await new Promise((resolve) => setTimeout(resolve, 50)); // the send goes on by itself
    expect(posts.map((post) => post.body)).toEqual([{ users: [{ user_id: "u1" }] }]);
    expect(errors).toHaveLength(1);
  });

  test("needs a client or an endpoint", () => {
    expect(() => userpilotIdentify({ getUser: () => undefined })).toThrow(/needs a client/);
  });
});
