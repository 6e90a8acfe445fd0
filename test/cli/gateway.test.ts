import { serve } from "@hono/node-server";
import { readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  DEV_INGEST_KEY,
  DEV_SIGNING_SECRET,
  freePort,
  type LocalStack,
  startLocalStack,
} from "../../scripts/local-stack.ts";
import { runCli, summaryOf, temporaryDirectory } from "./support.ts";

// `--ingest-url`: the CLI posts its bodies to the real Worker (wrangler dev), whose Durable
// Object delivers them to the sandbox. A proxy in front of the Worker can lose its answers.
const tmp = temporaryDirectory();
let stack: LocalStack;
let proxyUrl = "";
let closeProxy: () => Promise<void> = () => Promise.resolve();
/** Every POST the proxy saw: its Idempotency-Key, and what the Worker answered (202 replayed?). */
const seen: { key: string | null; status: number; replayed: boolean }[] = [];
/** Forward the POST, then lose the answer (answer 503 instead) for bodies holding this user. */
let loseAnswersFor: string | undefined;

beforeAll(async () => {
  stack = await startLocalStack({
    workerPort: await freePort(),
    sandboxPort: await freePort(),
    rowsPerMinute: 600_000,
    persistTo: join(tmp.path, "state"),
  });
  const server = serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (request) => {
      const body = await request.text();
      const response = await fetch(`${stack.workerUrl}${new URL(request.url).pathname}`, {
        method: request.method,
        headers: request.headers,
        body: request.method === "GET" ? null : body,
      });
      const lost = loseAnswersFor !== undefined && body.includes(`"${loseAnswersFor}"`);
      seen.push({
        key: request.headers.get("Idempotency-Key"),
        status: response.status,
        replayed: response.headers.get("Idempotent-Replayed") === "true",
      });
      const text = await response.text();
      if (lost) return new Response("upstream connection lost", { status: 503 });
      const headers = new Headers({ "Content-Type": response.headers.get("Content-Type") ?? "text/plain" });
      if (seen.at(-1)!.replayed) headers.set("Idempotent-Replayed", "true");
      return new Response(text, { status: response.status, headers });
    },
  });
  await new Promise((resolve) => server.once("listening", resolve));
  proxyUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeProxy = () => new Promise((resolve) => server.close(() => resolve()));
}, 120_000);

afterAll(async () => {
  await closeProxy();
  await stack?.stop();
  tmp.remove();
});

const usersFile = (name: string, count: number, prefix: string): string => {
  const file = join(tmp.path, name);
  const lines = Array.from(
    { length: count },
    (_, i) => JSON.stringify({ user_id: `${prefix}${i}`, metadata: { n: i } }),
  );
  writeFileSync(file, `${lines.join("\n")}\n{"user_id":""}\n`);
  return file;
};

async function delivered(prefix: string, count: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const users = await stack.sandbox<{ user_id: string; metadata: { n: number } }[]>("/__sandbox/users");
    const mine = users.filter((user) => user.user_id.startsWith(prefix));
    if (mine.length === count) {
      for (const user of mine) expect(user.metadata.n).toBe(Number(user.user_id.slice(prefix.length)));
      return;
    }
    if (Date.now() > deadline) throw new Error(`${mine.length} of ${count} ${prefix} users delivered`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const env = { USERPILOT_INGEST_KEY: DEV_INGEST_KEY };

test("bodies of 10,000 rows go to the gateway's bulk route; its Durable Object delivers every row", async () => {
  const file = usersFile("gateway.ndjson", 12_000, "g");
  const result = await runCli(["users", file, "--ingest-url", stack.workerUrl, "--json"], { env });
  expect(result.code).toBe(1); // the last line is a row with an empty user_id
  expect(summaryOf(result)).toMatchObject({
    via: "gateway",
    destination: stack.workerUrl,
    rowsRead: 12_001,
    rowsRejected: 1,
    rowsSubmitted: 12_000,
    requests: 2,
    rowsProcessed: 0,
  });
  expect(result.stderr).toBe("");
  await delivered("g", 12_000);
  expect(result.stdout).not.toContain(DEV_INGEST_KEY);
});

test("a lost answer is retried with the same Idempotency-Key: the gateway replays its 202 and queues nothing twice; a rerun with --resume reuses the key too", async () => {
  const file = usersFile("lost.ndjson", 300, "l");
  const state = join(tmp.path, "lost.state.json");
  const args = ["users", file, "--ingest-url", proxyUrl, "--max-rows", "100", "--resume", state, "--json"];
  seen.length = 0;
  loseAnswersFor = "l150"; // in the second body
  const first = await runCli([...args, "--max-attempts", "2", "--retry-delay", "1"], { env });
  expect(first.code).toBe(2);
  expect(summaryOf(first)).toMatchObject({ status: "failed", requests: 1 });
  expect(first.stderr).toMatch(/userpilot-bulk: .*503/);
  expect(JSON.parse(readFileSync(state, "utf8"))).toMatchObject({ checkpoint: 100 });
  const lostKey = seen[1]!.key;
  expect(seen.slice(1).map((s) => [s.key, s.status, s.replayed])).toEqual([[lostKey, 202, false], [
    lostKey,
    202,
    true,
  ]]);

  loseAnswersFor = undefined;
  const second = await runCli(args, { env });
  expect(second.code).toBe(1);
  expect(summaryOf(second)).toMatchObject({ rowsSkipped: 100, rowsSubmitted: 200, requests: 2 });
  expect(seen[3]).toMatchObject({ key: lostKey, status: 202, replayed: true });
  expect(second.stdout).toContain("not queued again");
  await delivered("l", 300);
});

test("a row too big for one of the gateway's Queue messages is rejected by the CLI, and the rest are delivered", async () => {
  const file = join(tmp.path, "big.ndjson");
  // Valid within the row limits (40 values of 8,000 characters: about 320 KB of JSON), but over
  // the 120,000 bytes the gateway queues in one message: the gateway would refuse its whole body.
  const big = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, "x".repeat(8_000)]));
  const lines = [
    JSON.stringify({ user_id: "b0", metadata: { n: 0 } }),
    JSON.stringify({ user_id: "b_big", metadata: big }),
    JSON.stringify({ user_id: "b1", metadata: { n: 1 } }),
  ];
  writeFileSync(file, `${lines.join("\n")}\n`);
  const dry = await runCli(["users", file, "--ingest-url", stack.workerUrl, "--dry-run", "--json"], { env });
  expect(dry.code).toBe(1);
  expect(summaryOf(dry)).toMatchObject({ rowsRead: 3, rowsRejected: 1 });
  const result = await runCli(["users", file, "--ingest-url", stack.workerUrl, "--json"], { env });
  expect(result.code).toBe(1);
  expect(summaryOf(result)).toMatchObject({ rowsRead: 3, rowsRejected: 1, rowsSubmitted: 2, requests: 1 });
  expect(result.stdout).toMatch(/over maxRowBytes \(120000\)/);
  await delivered("b", 2);
});

test("a wrong or missing ingest key fails with one clear line", async () => {
  const file = usersFile("key.ndjson", 3, "k");
  const wrong = await runCli(["users", file, "--ingest-url", stack.workerUrl], {
    env: { USERPILOT_INGEST_KEY: "not-a-key" },
  });
  expect(wrong.code).toBe(2);
  expect(wrong.stderr).toMatch(/authentication failed: .*401.*USERPILOT_INGEST_KEY/);
  const missing = await runCli(["users", file, "--ingest-url", stack.workerUrl], { env: {} });
  expect(missing.code).toBe(2);
  expect(missing.stderr.trim()).toMatch(
    /^userpilot-bulk: USERPILOT_INGEST_KEY \(or USERPILOT_INGEST_SIGNING_SECRET\) is not set/,
  );
});

test("USERPILOT_INGEST_SIGNING_SECRET signs each body the Standard Webhooks way instead; a malformed one is named, never quoted", async () => {
  const file = usersFile("signed.ndjson", 50, "s");
  const result = await runCli(["users", file, "--ingest-url", stack.workerUrl, "--json"], {
    env: { USERPILOT_INGEST_SIGNING_SECRET: DEV_SIGNING_SECRET },
  });
  expect(result.code).toBe(1); // the last line is a row with an empty user_id
  expect(summaryOf(result)).toMatchObject({ via: "gateway", rowsSubmitted: 50, requests: 1 });
  await delivered("s", 50);
  const malformed = await runCli(["users", file, "--ingest-url", stack.workerUrl], {
    env: { USERPILOT_INGEST_SIGNING_SECRET: "plain-secret-value" },
  });
  expect(malformed.code).toBe(2);
  expect(malformed.stderr).toMatch(/^userpilot-bulk: USERPILOT_INGEST_SIGNING_SECRET must look like whsec_/);
  expect(malformed.stderr).not.toContain("plain-secret-value");
});
