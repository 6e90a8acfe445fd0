import { Hono } from "hono";
import { describe, expect, test } from "vitest";
import { userpilotIdentify } from "../../src/hono/mod.ts";
import { RecentDigests } from "../../src/hono/recent-digests.ts";

function setup(status = 202) {
  const sent: unknown[] = [];
  const errors: unknown[] = [];
  const app = new Hono<{ Variables: { user?: { id: string; plan: string } } }>();
  app.use(async (c, next) => {
    const id = c.req.header("X-User");
    if (id) c.set("user", { id, plan: c.req.header("X-Plan") ?? "free" });
    await next();
  });
  app.use(
    userpilotIdentify({
      ingest: { url: "https://ingest.example.com", key: "k" },
      getUser: (c) => {
        const user = c.get("user");
        return user && { user_id: user.id, metadata: { plan: user.plan } };
      },
      fetch: async (request) => {
        sent.push(JSON.parse(await request.text()));
        return new Response("{}", { status });
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
  return { sent, errors, visit };
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

  test("a failed send is forgotten, so the next request tries again; the page never fails", async () => {
    const { sent, errors, visit } = setup(400);
    await visit({ "X-User": "u1" });
    await visit({ "X-User": "u1" });
    expect(sent).toHaveLength(2);
    expect(errors).toHaveLength(2);
  });
});

describe("RecentDigests", () => {
  test("forgets after the TTL and holds at most its capacity, dropping the oldest", () => {
    let now = 0;
    const recent = new RecentDigests(2, 100, () => now);
    recent.add("a");
    recent.add("b");
    recent.add("c");
    expect([recent.has("a"), recent.has("b"), recent.has("c"), recent.size]).toEqual([false, true, true, 2]);
    now = 150;
    expect(recent.has("b")).toBe(false);
  });
});
