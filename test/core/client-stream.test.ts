import { describe, expect, test } from "vitest";
import {
  type BulkProgress,
  type BulkTotals,
  type UserInput,
  UserpilotClient,
  ValidationError,
} from "../../mod.ts";
import { SANDBOX_API_KEY } from "../../src/sandbox/mod.ts";
import { expectedProfiles, inProcess, syntheticUpdates } from "../support/in-process.ts";

// bulkIdentifyUsers over iterables and async iterables: one window of maxRows rows at a time.

type Profile = { user_id: string; metadata: Record<string, unknown> };

async function* generate(count: number, log?: string[]): AsyncGenerator<UserInput> {
  for (let i = 0; i < count; i++) {
    log?.push(`read ${i}`);
    yield { user_id: `u${i}`, metadata: { i } };
  }
}

const lastTotals = (events: BulkProgress[]): BulkTotals => {
  const event = events.findLast((e) => "totals" in e) as { totals: BulkTotals };
  return event.totals;
};

describe("streaming bulk calls", () => {
  test("an async generator is sent a window at a time; issues carry the row's index in the stream", async () => {
    const { client, inspect } = inProcess();
    const events: BulkProgress[] = [];
    async function* rows(): AsyncGenerator<UserInput> {
      for (let i = 0; i < 35; i++) {
        yield i === 23 ? { user_id: "" } : { user_id: `u${i}`, metadata: { i } };
      }
    }
    const result = await client.bulkIdentifyUsers(rows(), { maxRows: 10, onProgress: (e) => events.push(e) });
    expect(result.rejected).toEqual([{ index: 23, path: "user_id", message: "user_id must not be empty" }]);
    expect(result.issueCount).toBe(1);
    expect(result.jobs).toHaveLength(4);
    const reads = events.filter((e) => e.type === "read");
    expect(reads.map((e) => [e.start, e.rows, e.rejected.length])).toEqual([[0, 10, 0], [10, 10, 0], [
      20,
      10,
      1,
    ], [30, 5, 0]]);
    expect(events.filter((e) => e.type === "submitted").map((e) => [e.rows, e.through])).toEqual([
      [10, 10],
      [10, 20],
      [9, 30],
      [5, 35],
    ]);
    expect(lastTotals(events)).toEqual({
      read: 35,
      rejected: 1,
      merged: 0,
      planned: 34,
      submitted: 34,
      processed: 34,
      setAside: 0,
      jobs: 4,
      checkpoint: 35,
    });
    expect((await inspect<Profile[]>("/__sandbox/users")).body).toHaveLength(34);
  });

  test("rows merge within their window; across windows a later row still wins", async () => {
    const { client, inspect } = inProcess();
    const updates = syntheticUpdates(300, 40, 9);
    const events: BulkProgress[] = [];
    // A plain (sync) generator: any iterable streams, not only async ones.
    function* rows(): Generator<UserInput> {
      yield* updates;
    }
    await client.bulkIdentifyUsers(rows(), { maxRows: 25, onProgress: (e) => events.push(e) });
    const profiles = (await inspect<Profile[]>("/__sandbox/users")).body;
    expect(profiles.sort((a, b) => a.user_id.localeCompare(b.user_id))).toEqual(expectedProfiles(updates));
    const totals = lastTotals(events);
    expect(totals.read).toBe(300);
    expect(totals.merged).toBeGreaterThan(0);
    expect(totals.planned + totals.merged).toBe(300);
    expect(totals.jobs).toBe(12); // 12 windows of 25 rows, each fewer than 25 rows once merged
  });

  test("the next window is read while the job runs: between a job's end and the next submission, no row is read", async () => {
    const log: string[] = [];
    const { sandbox } = inProcess({ sandbox: { rowsPerMinute: 60_000, queueMs: 20 } });
    const fetch = async (request: Request): Promise<Response> => {
      const response = await sandbox.fetch(request);
      if (request.method === "POST") log.push("submit");
      else log.push(`poll ${((await response.clone().json()) as { status: string }).status}`);
      return response;
    };
    const watched = new UserpilotClient({
      apiKey: SANDBOX_API_KEY,
      baseUrl: "http://sandbox.localhost",
      fetch,
      pollIntervalMs: 5,
    });
    await watched.bulkIdentifyUsers(generate(30, log), { maxRows: 10 });

    const submits = log.flatMap((entry, at) => (entry === "submit" ? [at] : []));
    const ends = log.flatMap((entry, at) => (entry === "poll completed" ? [at] : []));
    expect(submits).toHaveLength(3);
    expect(ends).toHaveLength(3);
    for (const window of [1, 2]) {
      const rows = Array.from({ length: 10 }, (_, i) => log.indexOf(`read ${window * 10 + i}`));
      // Read after the previous window's job was submitted, and before that job ended...
      expect(Math.min(...rows)).toBeGreaterThan(submits[window - 1]!);
      expect(Math.max(...rows)).toBeLessThan(ends[window - 1]!);
      // ...so its job goes straight after: the slot is not kept idle by reading.
      expect(log.slice(ends[window - 1]! + 1, submits[window]!)).toEqual([]);
    }
  });

  test("a poison row of an early window is set aside while the later windows complete", async () => {
    const { client, inspect } = inProcess({
      sandbox: { faults: { failIds: ["u3"] } },
      client: { retry: { baseDelayMs: 1, maxDelayMs: 5 } }, // the default budgets: 3 jobs in a row
    });
    const events: BulkProgress[] = [];
    const result = await client.bulkIdentifyUsers(generate(120), {
      maxRows: 10,
      onProgress: (e) => events.push(e),
    });
    expect(result.rejected).toEqual([
      { index: 3, path: "", message: expect.stringMatching(/Userpilot failed alone: job .* failed/) },
    ]);
    expect(events.filter((e) => e.type === "set-aside").map((e) => e.issue.index)).toEqual([3]);
    expect((await inspect<Profile[]>("/__sandbox/users")).body).toHaveLength(119);
    expect(lastTotals(events)).toMatchObject({ read: 120, setAside: 1, processed: 119, checkpoint: 120 });
  });

  test("a later row of a suspect's id joins the suspect instead of overtaking it", async () => {
    const { client, inspect } = inProcess({ sandbox: { faults: { failIds: ["u3"] } } });
    const older = Array.from({ length: 10 }, (_, i) => ({ user_id: `u${i}`, metadata: { v: 1, i } }));
    const newer = Array.from({ length: 10 }, (_, i) => ({ user_id: `u${i}`, metadata: { v: 2 } }));
    // Jobs that complete between the poison row's solo failures (the evidence that sets it aside).
    const later = Array.from({ length: 100 }, (_, i) => ({ user_id: `w${i}` }));
    const events: BulkProgress[] = [];
    const result = await client.bulkIdentifyUsers([...older, ...newer, ...later].values(), {
      maxRows: 10,
      onProgress: (e) => events.push(e),
    });
    expect(result.rejected.map((issue) => issue.index)).toEqual([3]);
    const profiles = (await inspect<Profile[]>("/__sandbox/users")).body.filter((p) =>
      p.user_id.startsWith("u")
    );
    expect(profiles).toHaveLength(9);
    for (const profile of profiles) {
      expect(profile.metadata).toEqual({ v: 2, i: Number(profile.user_id.slice(1)) });
    }
    expect(lastTotals(events)).toMatchObject({
      read: 120,
      merged: 10,
      planned: 110,
      processed: 109,
      setAside: 1,
    });
  });

  test("what the input throws ends the call, once the rows read before it are delivered", async () => {
    const { client, inspect } = inProcess();
    let closed = false;
    async function* failing(): AsyncGenerator<UserInput> {
      try {
        yield* generate(15);
        throw new Error("cursor lost");
      } finally {
        closed = true;
      }
    }
    const events: BulkProgress[] = [];
    await expect(client.bulkIdentifyUsers(failing(), { maxRows: 10, onProgress: (e) => events.push(e) }))
      .rejects.toThrow("cursor lost");
    expect(closed).toBe(true);
    expect((await inspect<Profile[]>("/__sandbox/users")).body).toHaveLength(15);
    expect(lastTotals(events)).toMatchObject({ read: 15, processed: 15, checkpoint: 15 }); // where to start again
  });

  test("an abort while waiting for an input that has stalled stops the call", async () => {
    const { client } = inProcess();
    const controller = new AbortController();
    async function* stalls(): AsyncGenerator<UserInput> {
      yield { user_id: "first" };
      controller.abort(new Error("stop"));
      await new Promise(() => {}); // an input that never answers again
    }
    const call = client.bulkIdentifyUsers(stalls(), { maxRows: 1, signal: controller.signal });
    await expect(call).rejects.toThrow("stop");
  });

  test("strict reads a stream whole first: one bad row and nothing is sent", async () => {
    const { client, inspect } = inProcess();
    async function* rows(): AsyncGenerator<UserInput> {
      yield* generate(25);
      yield { user_id: " " };
    }
    await expect(client.bulkIdentifyUsers(rows(), { maxRows: 10, strict: true })).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect((await inspect<{ requests: number }>("/__sandbox/stats")).body.requests).toBe(0);
  });

  test("typed inputs: an unknown top-level field is a compile error, and an issue at run time", async () => {
    const { client } = inProcess();
    // @ts-expect-error: properties belong under metadata
    const result = await client.bulkIdentifyUsers([{ user_id: "a", email: "a@example.com" }]);
    expect(result.rejected).toEqual([
      { index: 0, path: "email", message: "is not a known field; put profile properties under metadata" },
    ]);
    // A Date is a value a caller may pass; undefined is not (use null to remove a property).
    await client.bulkIdentifyCompanies([{ company_id: "c", metadata: { since: new Date(0), gone: null } }]);
    // @ts-expect-error: undefined is not a metadata value
    await client.bulkIdentifyCompanies([{ company_id: "c", metadata: { gone: undefined } }]);
  });
});
