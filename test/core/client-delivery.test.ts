import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { type BulkProgress, UserpilotClient } from "../../mod.ts";
import { createSandbox, SANDBOX_API_KEY } from "../../src/sandbox/mod.ts";
import { testSeed } from "../support/seed.ts";

// The client drives the same delivery policy as the Durable Object; here it meets the sandbox
// (Userpilot's stand-in) under fake time, so hours of outage take milliseconds.
const SEED = testSeed("core/client-delivery.test.ts faults", 4242);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function setup(faults: Record<string, unknown>, retry: Record<string, number> = {}) {
  const sandbox = createSandbox({ rowsPerMinute: 60_000, queueMs: 100, seed: SEED, faults });
  const client = new UserpilotClient({
    apiKey: SANDBOX_API_KEY,
    baseUrl: "http://sandbox.localhost",
    fetch: async (request) => await sandbox.fetch(request),
    random: () => 0.5,
    retry: { maxAttempts: Infinity, jobAttempts: Infinity, ...retry },
  });
  const get = async <T>(path: string): Promise<T> =>
    (await (await sandbox.fetch(new Request(`http://sandbox.localhost${path}`))).json()) as T;
  return { sandbox, client, get };
}

async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  const outcome = promise.then((value) => ({ value }), (error: unknown) => ({ error }));
  await vi.runAllTimersAsync();
  return outcome;
}

const users = (n: number) => Array.from({ length: n }, (_, i) => ({ user_id: `u${i}`, metadata: { i } }));

describe("UserpilotClient under the delivery policy", () => {
  test("a poison row that fails its job is cornered by bisection and set aside; every other row arrives", async () => {
    const { client, get } = setup({ failIds: ["u3"] });
    const events: BulkProgress[] = [];
    const result = await settle(
      client.bulkIdentifyUsers(users(200), { maxRows: 10, onProgress: (e) => events.push(e) }),
    );
    expect(result.error).toBeUndefined();
    expect(result.value!.rejected).toEqual([
      { index: 3, path: "", message: expect.stringMatching(/Userpilot failed alone: job .* failed/) },
    ]);
    expect(events.filter((e) => e.type === "set-aside")).toHaveLength(1);
    const delivered = await get<{ user_id: string }[]>("/__sandbox/users");
    expect(delivered.map((p) => p.user_id).sort()).toEqual(
      users(200).map((u) => u.user_id).filter((id) => id !== "u3").sort(),
    );
  });

  test("rows Userpilot refuses (400) are found by bisection; the rest of their job still goes", async () => {
    const { client, get } = setup({ refuseIds: ["u40", "u41"] });
    const result = await settle(client.bulkIdentifyUsers(users(300), { maxRows: 10 }));
    expect(result.value!.rejected.map((issue) => issue.index).sort()).toEqual([40, 41]);
    expect(result.value!.rejected[0]!.message).toMatch(/refused this row alone/);
    expect((await get<unknown[]>("/__sandbox/users")).length).toBe(298);
  });

  test("a row Userpilot finds too large (413) is split down to itself, then set aside", async () => {
    const { client, get } = setup({ tooLargeIds: ["u7"] });
    const result = await settle(client.bulkIdentifyUsers(users(200), { maxRows: 16 }));
    expect(result.value!.rejected).toEqual([
      { index: 7, path: "", message: expect.stringMatching(/413 to this row alone/) },
    ]);
    expect((await get<unknown[]>("/__sandbox/users")).length).toBe(199);
  });

  test("a 30-minute outage (every job failing, half the calls 5xx) ends with every row delivered, none set aside", async () => {
    const { sandbox, client, get } = setup({ jobFailureRate: 1, rate5xx: 0.5 });
    setTimeout(() => {
      void sandbox.fetch(
        new Request("http://sandbox.localhost/__sandbox/faults", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: "{}",
        }),
      );
    }, 30 * 60_000);
    const started = Date.now();
    const result = await settle(client.bulkIdentifyUsers(users(500), { maxRows: 100 }));
    expect(result.error).toBeUndefined();
    expect(result.value!.rejected).toEqual([]);
    expect(Date.now() - started).toBeGreaterThan(30 * 60_000); // it really waited the outage out
    const delivered = await get<{ user_id: string; metadata: { i: number } }[]>("/__sandbox/users");
    expect(delivered).toHaveLength(500);
    for (const profile of delivered) expect(`u${profile.metadata.i}`).toBe(profile.user_id);
  });

  test("with a jobs budget, a row that keeps failing alone at the very end is reported, not hidden", async () => {
    const { client, get } = setup({ failIds: ["u9"] }, { jobAttempts: 3 });
    const result = await settle(client.bulkIdentifyUsers(users(10), { maxRows: 10 }));
    // Nothing completes after it fails alone, so nothing says it is the row and not Userpilot:
    // the call ends with the job's failure, and the jobs that did complete.
    expect(result.error).toMatchObject({ name: "JobFailedError" });
    expect((result.error as { completedJobs: unknown[] }).completedJobs.length).toBeGreaterThan(0);
    expect((await get<unknown[]>("/__sandbox/users")).length).toBe(9);
  });
});
