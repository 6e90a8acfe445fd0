import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { createIngestClient, type IngestClient, type UserpilotError } from "../../mod.ts";

// The long-lived client in a Node server: identifies from many requests are batched across them,
// `flushAt` rows a body, and close() sends what is left and waits for it.

const KEY = "server-test-key";

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const read = async (request: IncomingMessage): Promise<string> => {
  let text = "";
  for await (const chunk of request) text += chunk;
  return text;
};

/** The ingestion endpoint's bulk route as a recorder: each id applied once, one 503 on demand. */
function gatewayStandIn() {
  const bodies = new Map<string, string[]>(); // Idempotency-Key → user ids
  const attempts: string[] = [];
  let active = 0;
  let mostActive = 0;
  let failNext = 0;
  const server = createServer(async (request, response) => {
    active++;
    mostActive = Math.max(mostActive, active);
    const body = JSON.parse(await read(request)) as { users: { user_id: string }[] };
    const key = request.headers["idempotency-key"] as string;
    attempts.push(key);
    await new Promise((resolve) => setTimeout(resolve, 2)); // a little work, so sends could overlap
    active--;
    if (request.headers.authorization !== `Bearer ${KEY}`) return response.writeHead(401).end();
    if (failNext > 0) {
      failNext--;
      return response.writeHead(503).end();
    }
    const replayed = bodies.has(key);
    if (!replayed) bodies.set(key, body.users.map((user) => user.user_id));
    response.writeHead(202, {
      "Content-Type": "application/json",
      ...(replayed ? { "Idempotent-Replayed": "true" } : {}),
    })
      .end(JSON.stringify({ accepted: body.users.length }));
  });
  return {
    server,
    bodies,
    attempts,
    mostActive: () => mostActive,
    failOnce: () => (failNext = 1),
  };
}

describe("createIngestClient in a long-lived Node server", () => {
  const gateway = gatewayStandIn();
  let gatewayUrl = "";
  let app: Server | undefined;
  beforeAll(async () => {
    gatewayUrl = await listen(gateway.server);
  });
  afterAll(async () => {
    app?.close();
    await new Promise((resolve) => gateway.server.close(resolve));
  });

  test("10,000 identifies over 1,000 requests arrive in exactly 10,000 / flushAt bodies; close() sends the rest and waits", async () => {
    const errors: UserpilotError[] = [];
    const userpilot: IngestClient = createIngestClient({ url: gatewayUrl, key: KEY }, {
      flushAt: 1000,
      flushIntervalMs: 60_000, // only flushAt and close() send in this test
      retry: { baseDelayMs: 1, maxDelayMs: 1 },
      onError: (error) => errors.push(error),
    });
    app = createServer(async (request, response) => {
      const ids = JSON.parse(await read(request)) as string[];
      for (const id of ids) userpilot.identify({ user_id: id, metadata: { plan: "pro", seen: new Date(0) } });
      response.writeHead(204).end();
    });
    const appUrl = await listen(app);
    gateway.failOnce(); // the first body's first attempt: retried under the same key
    for (let wave = 0; wave < 100; wave++) {
      await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        const request = wave * 10 + i;
        const ids = Array.from({ length: 10 }, (_, j) => `user_${request * 10 + j}`);
        const response = await fetch(appUrl, { method: "POST", body: JSON.stringify(ids) });
        expect(response.status).toBe(204);
      }));
    }
    expect(await userpilot.close()).toEqual({ sent: 10_000, failed: 0, pending: 0 });
    expect(errors).toEqual([]);
    // As few requests as flushAt allows, each id once, every row once.
    expect(gateway.bodies.size).toBe(10);
    expect([...gateway.bodies.values()].map((ids) => ids.length)).toEqual(Array(10).fill(1000));
    const arrived = [...gateway.bodies.values()].flat();
    expect(new Set(arrived).size).toBe(10_000);
    // The one 503 was retried with the same key: 11 attempts for 10 bodies.
    expect(gateway.attempts).toHaveLength(11);
    expect(gateway.attempts[1]).toBe(gateway.attempts[0]);
    // Sends go one after another, so a later identify always lands later.
    expect(gateway.mostActive()).toBe(1);

    userpilot.identify({ user_id: "late" });
    expect(errors.map((error) => error.message)).toEqual([
      "identify was called after close(); it was not sent",
    ]);
  });
});

describe("createIngestClient timing (fake clock)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  test("fewer rows than flushAt go flushIntervalMs after the first of them; asyncDispose closes", async () => {
    vi.useFakeTimers();
    const sent: string[] = [];
    const userpilot = createIngestClient({ url: "https://ingest.example.com", key: KEY }, {
      flushAt: 100,
      flushIntervalMs: 1000,
      fetch: async (request) => {
        sent.push(await request.text());
        return new Response('{"accepted":1}', { status: 202 });
      },
    });
    userpilot.identify({ user_id: "a" });
    await vi.advanceTimersByTimeAsync(500);
    userpilot.identifyCompany({ company_id: "c" });
    await vi.advanceTimersByTimeAsync(499);
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent.map((body) => JSON.parse(body))).toEqual([
      { users: [{ user_id: "a" }] },
      { companies: [{ company_id: "c" }] },
    ]);
    userpilot.identify({ user_id: "b" });
    await userpilot[Symbol.asyncDispose]();
    expect(sent).toHaveLength(3);
  });

  test("waitUntil is per-request use; flushAt and flushIntervalMs are long-lived use: not both", () => {
    expect(() =>
      createIngestClient({ url: "https://ingest.example.com", key: KEY }, {
        waitUntil: () => {},
        flushAt: 10,
      })
    ).toThrow(/waitUntil is for per-request use/);
    expect(() => createIngestClient({ url: "https://ingest.example.com", key: KEY }, { flushAt: 10_001 }))
      .toThrow(
        "flushAt must be a whole number from 1 to 10000",
      );
  });
});
