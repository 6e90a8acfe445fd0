import { serve } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { UserpilotClient } from "../../mod.ts";
import { createSandbox, SANDBOX_API_KEY } from "../../src/sandbox/mod.ts";
import { expectedProfiles, syntheticUpdates } from "../support/in-process.ts";
import { testSeed } from "../support/seed.ts";

// The sandbox over a real socket on 127.0.0.1, as `npm run sandbox` serves it, and the client
// over the real global fetch: dropped connections here are real broken HTTP responses.
const SEED = testSeed("sandbox/http.test.ts faults", 11);
let baseUrl = "";
let close = () => {};
beforeAll(async () => {
  const app = createSandbox({ rowsPerMinute: 600_000, queueMs: 5, seed: SEED });
  const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 });
  await new Promise((resolve) => server.once("listening", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});
afterAll(() => close());

test("over HTTP with faults injected, every profile ends as the expected merge", async () => {
  await fetch(`${baseUrl}/__sandbox/faults`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      rate429: 0.1,
      retryAfterSeconds: 0,
      rate5xx: 0.1,
      dropRate: 0.15,
      jobFailureRate: 0.2,
    }),
  });
  const client = new UserpilotClient({
    apiKey: SANDBOX_API_KEY,
    baseUrl,
    pollIntervalMs: 5,
    timeoutMs: 5000,
    retry: { baseDelayMs: 1, maxDelayMs: 10, maxAttempts: 12, jobAttempts: 10 },
  });
  const updates = syntheticUpdates(400, 100, 5);
  await client.bulkIdentifyUsers(updates, { maxRows: 10 });
  const stats = await (await fetch(`${baseUrl}/__sandbox/stats`)).json();
  expect(stats.faults.dropped).toBeGreaterThan(0);
  const users = (await (await fetch(`${baseUrl}/__sandbox/users`)).json()) as { user_id: string }[];
  expect(users.sort((a, b) => a.user_id.localeCompare(b.user_id))).toEqual(expectedProfiles(updates));
});
