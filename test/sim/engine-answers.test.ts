import { describe, expect, test } from "vitest";
import { DeliveryEngine } from "../../src/worker/delivery/engine.ts";
import { readSettings } from "../../src/worker/settings.ts";
import { HAS_SQLITE } from "./sqlite.ts";

// Userpilot's answers as the metrics count them, on the engine's own fetch: what the worker tests'
// sandbox cannot give (a request that gets no answer at all) is given here.
describe.runIf(HAS_SQLITE)("the engine counts Userpilot's answers", async () => {
  const { SqliteStorage } = await import("../../sim/sqlite-storage.ts");

  test("by status class, and a request that got none as a network error; the counts survive a restart", async () => {
    const storage = new SqliteStorage();
    let now = Date.parse("2026-12-07T12:00:00Z");
    const answers: (() => Promise<Response>)[] = [
      () => Promise.reject(new TypeError("connection refused")),
      () => Promise.resolve(new Response("down", { status: 503 })),
      () => Promise.resolve(new Response('{"error":"unauthorized"}', { status: 401 })),
    ];
    const settings = readSettings({
      USERPILOT_API_KEY: "engine-test-api-key",
      INGEST_KEYS: "engine-test-ingest-key-0123456789abcdef012345",
    });
    const engine = () =>
      new DeliveryEngine({
        storage,
        clock: () => now,
        random: () => 0.5,
        fetch: () => answers.shift()?.() ?? Promise.reject(new Error("no more answers")),
        alarm: { get: () => Promise.resolve(null), set: () => Promise.resolve() },
        settings: () => settings,
        pause: () => Promise.resolve(),
        log: () => {},
        // No alert webhook is set: nothing is posted.
        alertFetch: () => Promise.reject(new Error("no alert receiver")),
        background: () => {},
      });
    const first = engine();
    await first.enqueue([{ kind: "users", receivedAt: now, rows: [{ user_id: "u1", metadata: { n: 1 } }] }]);
    for (let step = 0; step < 3; step++) {
      await first.alarm();
      now += 3_600_000; // past any backoff
    }
    expect(answers).toHaveLength(0);
    const counted = { "2xx": 0, "3xx": 0, "4xx": 1, "5xx": 1, networkError: 1 };
    expect(first.status().userpilotAnswers).toEqual(counted);
    // The failure still reached delivery: counting does not swallow it.
    expect(first.status().lastError?.message).toMatch(/401/);
    expect(engine().status().userpilotAnswers).toEqual(counted);
    storage.close();
  });
});
