import { serve } from "@hono/node-server";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Miniflare } from "miniflare";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Webhook } from "standardwebhooks";
import { unstable_readConfig } from "wrangler";
import { createSandbox, SANDBOX_API_KEY } from "../src/sandbox/mod.ts";
import { buildWorker, loadBuiltWorker } from "./support/built-worker.ts";

// The Workers test pool turns Node compatibility on; this runs the bundle `wrangler deploy`
// would upload, with no compatibility flags at all, to prove the code needs none.
const outdir = mkdtempSync(join(tmpdir(), "userpilot-worker-"));
// whsec_ + base64 of "secret-of-the-built-worker-32-by" (32 bytes).
const SECRET = "whsec_c2VjcmV0LW9mLXRoZS1idWlsdC13b3JrZXItMzItYnk=";
const BUILT_ADMIN_KEY = "built-admin-key-6d5c4b3a2918f7e6d5c4b3a29180";
let mf: Miniflare;
let sandboxUrl = "";
let closeSandbox = () => {};

beforeAll(async () => {
  buildWorker(new URL("..", import.meta.url).pathname, outdir);
  const server = serve({
    fetch: createSandbox({ rowsPerMinute: 600_000, queueMs: 5 }).fetch,
    hostname: "127.0.0.1",
    port: 0,
  });
  await new Promise((resolve) => server.once("listening", resolve));
  sandboxUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeSandbox = () => server.close();
  mf = loadBuiltWorker(outdir, {
    USERPILOT_API_KEY: SANDBOX_API_KEY,
    USERPILOT_BASE_URL: sandboxUrl,
    INGEST_SIGNING_SECRETS: SECRET,
    ADMIN_KEYS: BUILT_ADMIN_KEY,
    POLL_INTERVAL_MS: "20",
  });
}, 120_000);

afterAll(async () => {
  await mf?.dispose();
  closeSandbox();
  rmSync(outdir, { recursive: true, force: true });
});

test(
  "the built worker runs with no compatibility flags and delivers an identify signed by the standardwebhooks package",
  async () => {
    expect(await (await mf.dispatchFetch("http://localhost/health")).json()).toEqual({ status: "ok" });
    const body = JSON.stringify({ user_id: "built_user", metadata: { plan: "pro" } });
    const now = new Date();
    const headers = {
      "webhook-id": "msg_built",
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": new Webhook(SECRET).sign("msg_built", now, body),
    };
    const response = await mf.dispatchFetch("http://localhost/v1/identify", {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json" },
      body,
    });
    expect(response.status).toBe(202);
    const deadline = Date.now() + 30_000;
    let profile: unknown;
    while (Date.now() < deadline) {
      const found = await fetch(`${sandboxUrl}/__sandbox/users/built_user`);
      if (found.status === 200) {
        profile = await found.json();
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(profile).toEqual({ user_id: "built_user", metadata: { plan: "pro" } });
    const status = await mf.dispatchFetch("http://localhost/v1/status", {
      headers: { Authorization: `Bearer ${BUILT_ADMIN_KEY}` },
    });
    expect(await status.json()).toMatchObject({ rowsReceived: 1, setAside: { count: 0 } });
    // The operator's page (JSX rendered on the server) needs no flag either.
    const page = await mf.dispatchFetch("http://localhost/admin", {
      headers: { Authorization: `Basic ${btoa(`operator:${BUILT_ADMIN_KEY}`)}` },
    });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<dd data-status="rowsReceived">1 row<\/dd>/);
  },
  60_000,
);

test(
  "wrangler deploy --dry-run --env staging builds a staging Worker with its own queue, dead-letter queue, objects and limiter",
  () => {
    const root = new URL("..", import.meta.url).pathname;
    const stagingOut = mkdtempSync(join(tmpdir(), "userpilot-worker-staging-"));
    try {
      const printed = buildWorker(root, stagingOut, "staging");
      expect(existsSync(join(stagingOut, "index.js"))).toBe(true);
      expect(printed).toContain("env.INGEST_QUEUE (userpilot-ingest-staging)");
      expect(printed).toContain("env.DELIVERY (DeliveryObject)");
      expect(printed).toContain("env.AUTH_LIMITER (20 requests/60s)");
    } finally {
      rmSync(stagingOut, { recursive: true, force: true });
    }
    const config = (env?: string) => unstable_readConfig({ config: join(root, "wrangler.toml"), env });
    const production = config();
    const staging = config("staging");
    // Another script: its Durable Objects (and their storage) are its own.
    expect(staging.name).toBe(`${production.name}-staging`);
    expect(staging.durable_objects.bindings).toEqual(production.durable_objects.bindings);
    expect(staging.migrations).toEqual(production.migrations);
    // Its own queue and dead-letter queue, consumed as production's are.
    const producer = staging.queues.producers?.[0];
    expect(producer).toEqual({ queue: "userpilot-ingest-staging", binding: "INGEST_QUEUE" });
    const [main, dlq] = staging.queues.consumers ?? [];
    const [productionMain, productionDlq] = production.queues.consumers ?? [];
    expect(main).toEqual({
      ...productionMain,
      queue: "userpilot-ingest-staging",
      dead_letter_queue: "userpilot-ingest-staging-dlq",
    });
    expect(dlq).toEqual({ ...productionDlq, queue: "userpilot-ingest-staging-dlq" });
    const queues = [producer?.queue, main?.queue, main?.dead_letter_queue, dlq?.queue];
    const productionQueues = [productionMain?.queue, productionMain?.dead_letter_queue, productionDlq?.queue];
    expect(queues.filter((queue) => productionQueues.includes(queue!))).toEqual([]);
    // Ratelimits are not inherited: its own binding, in a namespace of its own, with the same limit.
    const [limiter] = staging.ratelimits;
    const [productionLimiter] = production.ratelimits;
    expect(limiter).toEqual({ ...productionLimiter, namespace_id: expect.any(String) });
    expect(limiter?.namespace_id).not.toBe(productionLimiter?.namespace_id);
    // Vars are not inherited either: the same ones, set for staging.
    expect(Object.keys(staging.vars).sort()).toEqual(Object.keys(production.vars).sort());
    expect(staging.observability).toEqual(production.observability);
  },
  60_000,
);
