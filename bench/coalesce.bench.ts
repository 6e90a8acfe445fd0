/**
 * Benchmark 3, coalescing: 100,000 identify calls over 10,000 distinct users, sent through
 * `UserpilotClient.bulkIdentifyUsers` to the sandbox (in memory, processing as fast as it can),
 * and the rows the sandbox received counted. Every profile is then checked against the merge of
 * all 100,000 calls, computed without the core (test/support/in-process.ts).
 *
 *   node --import tsx bench/coalesce.bench.ts
 */
import { isDeepStrictEqual } from "node:util";
import { UserpilotClient } from "../mod.ts";
import { createSandbox, SANDBOX_API_KEY } from "../src/sandbox/mod.ts";
import { expectedProfiles } from "../test/support/in-process.ts";
import { emit } from "./measure.ts";
import { realisticRows } from "./rows.ts";

const CALLS = 100_000;
const USERS = 10_000;

const sandbox = createSandbox({ rowsPerMinute: 600_000_000, queueMs: 0 });
const fetch = async (request: Request): Promise<Response> => await sandbox.fetch(request);
const client = new UserpilotClient({
  apiKey: SANDBOX_API_KEY,
  baseUrl: "http://sandbox.localhost",
  fetch,
  pollIntervalMs: 1,
});
const inspect = async <T>(path: string): Promise<T> =>
  (await (await sandbox.fetch(new Request(`http://sandbox.localhost${path}`))).json()) as T;

const calls = realisticRows(CALLS, USERS, 3);
const started = performance.now();
const { jobs, rejected } = await client.bulkIdentifyUsers(calls);
const elapsed = performance.now() - started;
const stats = await inspect<{ rows: { received: number }; jobs: { created: number } }>("/__sandbox/stats");
const profiles = await inspect<{ user_id: string }[]>("/__sandbox/users");
profiles.sort((a, b) => a.user_id.localeCompare(b.user_id));
const expected = expectedProfiles(calls);
const mismatched = expected.filter((profile, i) => !isDeepStrictEqual(profile, profiles[i])).length;

emit({
  id: "3",
  name: "Coalescing: 100,000 identify calls over 10,000 users",
  figures: [
    { label: "identify calls", value: CALLS },
    { label: "rows sent to Userpilot (sandbox count)", value: stats.rows.received },
    { label: "jobs", value: `${stats.jobs.created} (client saw ${jobs.length})` },
    { label: "rows rejected", value: rejected.length },
    { label: "profiles not equal to the merge of all calls", value: mismatched },
    { label: "time, validate to last job completed", value: elapsed, unit: "ms" },
  ],
  target: "exactly 10,000 rows, every profile the expected merge",
  met: stats.rows.received === USERS && mismatched === 0 && profiles.length === USERS,
});
