/**
 * The contract suite: the same cases run on Node (vitest), workerd (the Workers pool), Deno and
 * Bun. It imports the package the way a user would (`mod.ts`, the sandbox entry point) and uses
 * only web globals and `node:assert`, which all four runtimes provide.
 */
import assert from "node:assert/strict";
import {
  buildBulkIdentifyRequests,
  coalesceRows,
  HTTPError,
  JobFailedError,
  signPayload,
  type UserInput,
  UserpilotClient,
  verifySignature,
} from "../../mod.ts";
import { SANDBOX_API_KEY } from "../../src/sandbox/mod.ts";
import { seedUsers } from "../../examples/seed-rows.ts";
import { expectedProfiles, inProcess, SANDBOX_URL, syntheticUpdates } from "../support/in-process.ts";
import { chooseSeed } from "../support/seed.ts";
import { SEED_TEXT } from "./seed-text.ts";

export interface ContractCase {
  readonly name: string;
  readonly run: () => Promise<void>;
}

type Stats = {
  statuses: Record<string, number>;
  jobs: { created: number; completed: number; failed: number };
};
type Profile = { user_id: string; company_id?: string; metadata: Record<string, unknown> };

async function allUsers(inspect: ReturnType<typeof inProcess>["inspect"]): Promise<Profile[]> {
  const { body } = await inspect<Profile[]>("/__sandbox/users");
  return body.sort((a, b) => a.user_id.localeCompare(b.user_id));
}

/** Set by a runner that can read the environment (Node: `TEST_SEED`) to replay the fault case. */
export const contractSettings: { seedOverride: string | undefined } = { seedOverride: undefined };

export const contractCases: ContractCase[] = [
  {
    name: "the seed users arrive in the sandbox exactly as sent",
    async run() {
      const { client, inspect } = inProcess();
      const users = seedUsers(SEED_TEXT) as UserInput[];
      const { jobs, rejected } = await client.bulkIdentifyUsers(users);
      assert.equal(rejected.length, 0);
      assert.deepEqual(jobs.map((job) => job.status), ["completed"]);
      assert.deepEqual(await allUsers(inspect), expectedProfiles(users));
    },
  },
  {
    name: "a later identify merges: null removes a key, a new company_id moves the user",
    async run() {
      const { client, inspect } = inProcess();
      await client.bulkIdentifyUsers([
        { user_id: "u1", company_id: "acme", metadata: { plan: "free", seats: 3, nickname: "Jo" } },
      ]);
      await client.bulkIdentifyUsers([{
        user_id: "u1",
        company_id: "globex",
        metadata: { plan: "pro", nickname: null },
      }]);
      const { body } = await inspect("/__sandbox/users/u1");
      assert.deepEqual(body, { user_id: "u1", company_id: "globex", metadata: { plan: "pro", seats: 3 } });
      assert.equal((await inspect("/__sandbox/users/nobody")).status, 404);
    },
  },
  {
    name: "bad rows are reported by index and path without their values; good rows still go",
    async run() {
      const { client, inspect } = inProcess();
      const secret = "do-not-echo-me";
      // Bad on purpose: TypeScript would refuse some of these, as JavaScript callers' rows are not.
      const rows: unknown[] = [
        { user_id: "ok_1", metadata: { when: new Date("2024-01-15T08:00:00Z") } },
        { user_id: "", metadata: {} },
        { user_id: "bad_2", metadata: { nested: { secret } } },
        { user_id: "bad_3", metadata: { n: Number.NaN } },
        { user_id: "bad_4", email: secret },
        { user_id: "ok_5" },
      ];
      const { rejected, jobs } = await client.bulkIdentifyUsers(rows as UserInput[]);
      assert.equal(jobs.length, 1);
      assert.deepEqual(rejected.map((issue) => [issue.index, issue.path]), [
        [1, "user_id"],
        [2, "metadata.nested"],
        [3, "metadata.n"],
        [4, "email"],
      ]);
      assert.ok(!JSON.stringify(rejected).includes(secret));
      assert.deepEqual((await allUsers(inspect)).map((user) => user.user_id), ["ok_1", "ok_5"]);
      assert.deepEqual((await inspect("/__sandbox/users/ok_1")).body, {
        user_id: "ok_1",
        metadata: { when: "2024-01-15T08:00:00.000Z" },
      });
    },
  },
  {
    name: "large inputs go one job at a time, each within maxRows, and are merged first",
    async run() {
      const { client, inspect } = inProcess();
      const updates = syntheticUpdates(400, 120);
      const submitted: number[] = [];
      const { jobs } = await client.bulkIdentifyUsers(updates, {
        maxRows: 25,
        onProgress: (event) => {
          if (event.type === "submitted") submitted.push(event.rows);
        },
      });
      const distinct = new Set(updates.map((row) => row.user_id)).size;
      assert.equal(submitted.reduce((a, b) => a + b, 0), distinct);
      assert.ok(submitted.every((rows) => rows <= 25));
      assert.equal(jobs.length, Math.ceil(distinct / 25));
      const { body: stats } = await inspect<Stats>("/__sandbox/stats");
      assert.equal(stats.statuses["409"] ?? 0, 0, "a job was started while another ran");
      assert.deepEqual(await allUsers(inspect), expectedProfiles(updates));
    },
  },
  {
    name: "companies are identified through their own endpoint",
    async run() {
      const { client, inspect } = inProcess();
      await client.bulkIdentifyCompanies([
        { company_id: "acme", metadata: { plan: "free", seats: 10 } },
        { company_id: "acme", metadata: { plan: "enterprise" } },
      ]);
      assert.deepEqual((await inspect("/__sandbox/companies/acme")).body, {
        company_id: "acme",
        metadata: { plan: "enterprise", seats: 10 },
      });
    },
  },
  {
    name: "requests built by buildBulkIdentifyRequests are accepted by the sandbox as they are",
    async run() {
      const { fetch, client } = inProcess();
      const rows = Array.from({ length: 30 }, (_, i) => ({ user_id: `u${i}`, metadata: { i } }));
      const { requests } = buildBulkIdentifyRequests(rows, {
        apiKey: SANDBOX_API_KEY,
        baseUrl: SANDBOX_URL,
        maxRows: 20,
      });
      assert.ok(requests.length >= 2);
      for (const request of requests) {
        const response = await fetch(request);
        assert.equal(response.status, 202);
        const job = (await response.json()) as { job_id: string };
        await client.waitForJob(job.job_id);
      }
    },
  },
  {
    name: "a job started elsewhere (409) is waited for, then ours goes through",
    async run() {
      const { client, fetch, inspect } = inProcess({ sandbox: { rowsPerMinute: 60_000 } });
      const other = await fetch(
        new Request(`${SANDBOX_URL}/v1/users/bulk_identify`, {
          method: "POST",
          headers: { Authorization: `Token ${SANDBOX_API_KEY}`, "Content-Type": "application/json" },
          body: JSON.stringify({ users: Array.from({ length: 100 }, (_, i) => ({ user_id: `other_${i}` })) }),
        }),
      );
      assert.equal(other.status, 202);
      const waits: string[] = [];
      await client.bulkIdentifyUsers([{ user_id: "mine" }], {
        onProgress: (event) => {
          if (event.type === "waiting") waits.push(event.jobId ?? "?");
        },
      });
      const { body: stats } = await inspect<Stats>("/__sandbox/stats");
      assert.ok((stats.statuses["409"] ?? 0) >= 1);
      assert.ok(waits.length >= 1);
      assert.equal((await inspect("/__sandbox/users/mine")).status, 200);
      assert.equal((await allUsers(inspect)).length, 101);
    },
  },
  {
    name: "with 429, 5xx, dropped connections and failed jobs injected, every profile is the expected merge",
    async run() {
      const { client, inspect, setFaults } = inProcess({
        client: { retry: { baseDelayMs: 1, maxDelayMs: 10, maxAttempts: 12, jobAttempts: 10 } },
      });
      await setFaults({
        rate429: 0.1,
        retryAfterSeconds: 0,
        rate5xx: 0.1,
        dropRate: 0.1,
        jobFailureRate: 0.3,
        seed: chooseSeed("contract suite faults", 42, contractSettings.seedOverride),
      });
      const updates = syntheticUpdates(600, 150, 42);
      const retries: string[] = [];
      await client.bulkIdentifyUsers(updates.slice(0, 300), {
        maxRows: 10,
        onProgress: (event) => event.type === "retry" && retries.push(event.reason),
      });
      await client.bulkIdentifyUsers(updates.slice(300), { maxRows: 10 });
      const { body: stats } = await inspect<Stats & { faults: Record<string, number> }>("/__sandbox/stats");
      assert.ok(retries.length > 0, "no fault was met");
      assert.ok(
        stats.faults["failedJobs"]! > 0 && stats.faults["dropped"]! > 0 && stats.faults["rateLimited"]! > 0,
        JSON.stringify(stats),
      );
      assert.deepEqual(await allUsers(inspect), expectedProfiles(updates));
    },
  },
  {
    name: "errors are typed and never carry the API key",
    async run() {
      const { sandbox } = inProcess();
      const apiKey = "wrong-key-123";
      const client = new UserpilotClient({
        apiKey,
        baseUrl: SANDBOX_URL,
        fetch: async (r) => await sandbox.fetch(r),
      });
      const error = await client.bulkIdentifyUsers([{ user_id: "u1" }]).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof HTTPError);
      assert.equal(error.status, 401);
      assert.ok(error.errors.length > 0);
      assert.ok(!`${error.message} ${error.body} ${error.stack}`.includes(apiKey));
    },
  },
  {
    name: "a job that keeps failing ends in JobFailedError after the configured attempts",
    async run() {
      const { client, setFaults, inspect } = inProcess({
        client: { retry: { jobAttempts: 2, baseDelayMs: 1 } },
      });
      await setFaults({ jobFailureRate: 1 });
      const error = await client.bulkIdentifyUsers([{ user_id: "u1" }]).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof JobFailedError);
      const { body: stats } = await inspect<Stats>("/__sandbox/stats");
      assert.equal(stats.jobs.failed, 2);
    },
  },
  {
    name: "coalesceRows keeps first-seen order, later values and nulls",
    run() {
      assert.deepEqual(
        coalesceRows([
          { user_id: "b", metadata: { x: 1 } },
          { user_id: "a", company_id: "c1" },
          { user_id: "b", company_id: "c2", metadata: { x: null, y: 2 } },
        ]),
        [{ user_id: "b", company_id: "c2", metadata: { x: null, y: 2 } }, { user_id: "a", company_id: "c1" }],
      );
      return Promise.resolve();
    },
  },
  {
    name:
      "a Standard Webhooks signature made with one of the active secrets verifies; a changed body does not",
    async run() {
      const body = JSON.stringify({ user_id: "u1" });
      // whsec_ + base64 of 32 bytes each.
      const [oldSecret, newSecret] = [
        "whsec_YW5vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXMtLS0tLSE=",
        "whsec_YS1zZWNyZXQtb2YtdGhpcnR5LXR3by1ieXRlcy1vayE=",
      ];
      const headers = await signPayload(newSecret, body, { id: "msg_contract" });
      assert.match(headers["webhook-signature"], /^v1,[A-Za-z0-9+/]{43}=$/);
      assert.deepEqual(await verifySignature([oldSecret, newSecret], body, headers), {
        valid: true,
        id: "msg_contract",
        timestamp: Number(headers["webhook-timestamp"]),
      });
      assert.deepEqual(await verifySignature([newSecret], `${body} `, headers), {
        valid: false,
        reason: "mismatch",
      });
    },
  },
];
