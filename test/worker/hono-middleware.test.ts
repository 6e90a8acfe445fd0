import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { Hono } from "hono";
import { expect, test } from "vitest";
import { userpilotIdentify, type UserpilotVariables } from "../../src/hono/mod.ts";

// The Hono middleware in workerd, with Workers' own ExecutionContext: each request's calls (the
// visitor's identify and the handler's c.var.userpilot calls) go after the response, together,
// within that request's waitUntil, and none is lost once it settles. (On Node, Bun and Deno
// servers: test/hono/servers.test.ts.)

type Posted = { path: string; body: { users?: { user_id: string; metadata?: { visit: number } }[] } };

test("1,000 requests over 100 users: every call arrives within its request's waitUntil", async () => {
  const posts: Posted[] = [];
  const app = new Hono<{ Variables: UserpilotVariables & { user: { id: string; visit: number } } }>();
  app.use(async (c, next) => {
    c.set("user", { id: c.req.header("X-User")!, visit: Number(c.req.header("X-Visit")) });
    await next();
  });
  app.use(userpilotIdentify({
    ingest: { url: "https://ingest.example.com", key: "k" },
    fetch: async (request) => {
      posts.push({ path: new URL(request.url).pathname, body: JSON.parse(await request.text()) });
      return new Response('{"accepted":1}', { status: 202 });
    },
    getUser: (c) => ({ user_id: c.var.user.id, metadata: { visit: c.var.user.visit } }),
  }));
  app.get("/", (c) => {
    if (c.var.user.visit === 9) c.var.userpilot.track({ user_id: c.var.user.id, event_name: "tenth_visit" });
    return c.text("ok");
  });
  for (let wave = 0; wave < 10; wave++) {
    await Promise.all(Array.from({ length: 100 }, async (_, user) => {
      const ctx = createExecutionContext();
      const response = await app.fetch(
        new Request("https://app.example.com/", {
          headers: { "X-User": `user_${user}`, "X-Visit": String(wave) },
        }),
        {},
        ctx,
      );
      expect(await response.text()).toBe("ok");
      await waitOnExecutionContext(ctx);
    }));
  }
  const identifies = posts.filter((post) => post.path === "/v1/users/bulk_identify");
  const events = posts.filter((post) => post.path === "/v1/track");
  console.log(
    `workerd: 1,000 requests over 100 users → ${posts.length} POSTs (${identifies.length} identify, ${events.length} track): one per request and kind`,
  );
  expect(identifies).toHaveLength(1000); // every visit changed the profile
  expect(events).toHaveLength(100);
  const profiles = new Map<string, number>();
  for (const { body } of identifies) {
    for (const user of body.users!) profiles.set(user.user_id, user.metadata!.visit);
  }
  expect(profiles.size).toBe(100);
  expect([...profiles.values()].every((visit) => visit === 9)).toBe(true);
});
