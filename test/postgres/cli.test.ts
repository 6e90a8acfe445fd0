/**
 * `userpilot-bulk ... --from-postgres` as a user runs it (a child process on Node, Deno and Bun),
 * against a real PostgreSQL server and the sandbox on a socket: rows delivered and rejected rows
 * reported by id, bad SQL, an interrupted sync resumed by id, a second sync with `--state` where
 * 1% changed, and a connection killed mid-stream. The connection string is never printed.
 */
import postgres, { type Sql } from "postgres";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import {
  FAST,
  profiles,
  runCli,
  type RunResult,
  type Runtime,
  sandboxForFile,
  summaryOf,
} from "../cli/support.ts";
import { POSTGRES_PASSWORD } from "../support/postgres.ts";

const { sandbox, tmp, env, stats } = sandboxForFile();
let db: Sql;
let admin: Sql;

beforeAll(() => {
  db = postgres(inject("postgresUrl"), { max: 1, onnotice: () => {} });
  admin = postgres(inject("postgresAdminUrl"), { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await db?.end();
  await admin?.end();
});

/** A table of `count` accounts `acc00001`…, each in a company, with a plan and seats. */
async function accounts(table: string, count: number): Promise<void> {
  await db.unsafe(`
    drop table if exists ${table};
    create table ${table} (id text, org int, plan text, seats int, renews date);
    insert into ${table} select 'acc' || lpad(g::text, 5, '0'), g % 7, 'plan' || (g % 3), g % 50, date '2025-01-01' + g
      from generate_series(1, ${count}) g;
  `).simple();
}

const select = (table: string) =>
  `select id as user_id, org as company_id, plan, seats, renews from ${table}`;

/** The CLI from `table`, to the sandbox, with the connection string in the environment. */
function sync(
  query: string,
  args: string[] = [],
  options: Parameters<typeof runCli>[1] = {},
): Promise<RunResult> {
  return runCli([
    "users",
    "--from-postgres",
    "env:DATABASE_URL",
    "--query",
    query,
    "--json",
    ...FAST,
    ...args,
  ], {
    ...options,
    env: { ...env(), DATABASE_URL: inject("postgresUrl"), ...options.env },
  });
}

/** Nothing a run printed holds the password or the connection string. */
function expectNoSecret(result: RunResult): void {
  expect(result.stdout + result.stderr).not.toContain(POSTGRES_PASSWORD);
  expect(result.stdout + result.stderr).not.toContain(inject("postgresUrl"));
}

test("a table's rows reach Userpilot, with companies; rows that cannot go are reported by id", async () => {
  await accounts("people", 1200);
  await db.unsafe(`
    insert into people values ('acc99998', 1, 'big', null, null), (null, 1, 'no id', 1, null);
    alter table people add column lifetime bigint;
    update people set lifetime = 9007199254740993 where id = 'acc99998';
  `).simple();
  const report = join(tmp.path, "rejected.ndjson");
  // As a user would run it: the URL itself on the command line (and never printed back).
  const result = await runCli([
    "users",
    "--from-postgres",
    inject("postgresUrl"),
    "--query",
    "select id as user_id, org as company_id, plan, seats, renews, lifetime from people",
    "--report",
    report,
    "--max-rows",
    "500",
    "--json",
    ...FAST,
  ], { env: env() });
  expectNoSecret(result);
  expect(summaryOf(result)["error"]).toBeUndefined();
  expect(result.code).toBe(1);
  expect(summaryOf(result)).toMatchObject({
    status: "rejected",
    rowsRead: 1202,
    rowsRejected: 2,
    rowsProcessed: 1200,
    jobs: 3,
  });
  expect(readFileSync(report, "utf8").trim().split("\n").map((line) => JSON.parse(line))).toEqual([
    { id: "acc99998", row: 1201, path: "metadata.lifetime", message: expect.stringMatching(/beyond 2\^53/) },
    { id: null, row: 1202, path: "user_id", message: 'is NULL (column "user_id")' },
  ]);
  const held = await profiles(sandbox);
  expect(held).toHaveLength(1200);
  expect(held[6]).toEqual({
    user_id: "acc00007",
    company_id: "0",
    metadata: { plan: "plan1", seats: 7, renews: "2025-01-08T00:00:00.000Z" }, // lifetime NULL: cleared
  });
});

test("bad SQL: PostgreSQL's message and where in the query, on one line, no stack trace", async () => {
  const result = await sync("select id as user_id,\n  plna from people");
  expectNoSecret(result);
  expect(result.code).toBe(2);
  expect(summaryOf(result)["error"]).toBe(
    'PostgreSQL: column "plna" does not exist (at line 2, column 3 of the query); hint: Perhaps you meant to ' +
      'reference the column "people.plan". (SQLSTATE 42703)',
  );
  expect(result.stderr).not.toMatch(/\n\s+at /);
  const wrong = await sync("select 1 as user_id", [], {
    env: { DATABASE_URL: inject("postgresUrl").replace(POSTGRES_PASSWORD, "wrong-password") },
  });
  expect(wrong.code).toBe(2);
  expect(summaryOf(wrong)["error"]).toMatch(
    /^PostgreSQL: password authentication failed for user "userpilot_sync"/,
  );
  expect(wrong.stdout + wrong.stderr).not.toContain("wrong-password");
  expect((await stats()).requests).toBe(0);
});

test("an interrupted sync resumes after the last settled id: nothing missed, little sent twice", async () => {
  await accounts("resumed", 3000);
  const resume = join(tmp.path, "resumed.resume.json");
  const args = ["--resume", resume, "--max-rows", "500"];
  let stopped = false;
  const first = await sync(select("resumed"), args, {
    onLine: (line, child) => {
      if (!stopped && line.includes('"event":"completed"') && line.includes('"jobs":2')) {
        stopped = true;
        child.kill("SIGINT");
      }
    },
  });
  expect(first.code).toBe(130);
  const saved = JSON.parse(readFileSync(resume, "utf8"));
  expect(saved).toMatchObject({ checkpoint: 0, after: { after: expect.stringMatching(/^acc0/) } });
  expect(saved.after.after >= "acc01000").toBe(true);
  const sentBefore = (await stats()).rows.received;

  // A row inserted before the checkpoint meanwhile shifts nothing: the rerun goes by id, not by count.
  await db.unsafe("insert into resumed values ('acc00000', 1, 'new', 1, null)");
  const second = await sync(select("resumed"), args);
  expectNoSecret(second);
  expect(second.code).toBe(0);
  expect(second.events.find((e) => e["type"] === "note")?.["message"]).toMatch(
    /^resuming from .*: every row up to id acc0\d+ was settled by an earlier run; reading on (after|from) it$/,
  );
  const rerun = summaryOf(second) as { rowsRead: number };
  expect(rerun.rowsRead).toBeLessThan(3000 - 900);
  const received = (await stats()).rows.received;
  expect(received - sentBefore).toBe(rerun.rowsRead);
  expect(received).toBeLessThan(3000 + 1000); // at most the jobs in flight when it stopped went twice
  const held = await profiles(sandbox);
  expect(held.map((p) => p.user_id)).toEqual(
    Array.from({ length: 3000 }, (_, i) => `acc${String(i + 1).padStart(5, "0")}`),
  );
});

test("--state: a second sync where 1% of the rows changed sends only those", async () => {
  await accounts("nightly", 10_000);
  const state = join(tmp.path, "nightly.state");
  const first = await sync(select("nightly"), ["--state", state]);
  expect(first.code).toBe(0);
  expect((await stats()).rows.received).toBe(10_000);
  await db.unsafe("update nightly set plan = 'changed' where right(id, 2) = '00'");
  await sandbox.reset();
  const second = await sync(select("nightly"), ["--state", state]);
  expect(second.code).toBe(0);
  expect(summaryOf(second)).toMatchObject({ rowsRead: 10_000, rowsUnchanged: 9_900, rowsProcessed: 100 });
  expect((await stats()).rows.received).toBe(100);
  expect((await profiles(sandbox)).every((p) => p.metadata["plan"] === "changed")).toBe(true);
});

test("a connection killed mid-stream: the run reconnects, reads on after the last id, delivers every row once", async () => {
  await accounts("flaky", 6000);
  let killed = 0;
  let stopped: Promise<void> | undefined;
  const result = await sync(select("flaky"), ["--max-rows", "1000"], {
    onLine: (line, child) => {
      if (stopped === undefined && line.includes('"event":"submitted"')) {
        // Paused while its connection is ended, so the kill lands mid-stream whatever the machine's pace.
        child.kill("SIGSTOP");
        stopped = (async () => {
          const ended = await admin`select pg_terminate_backend(pid) from pg_stat_activity
            where usename = 'userpilot_sync' and application_name = 'userpilot-bulk'`;
          killed = ended.length;
          child.kill("SIGCONT");
        })();
      }
    },
  });
  await stopped;
  expectNoSecret(result);
  expect(killed).toBe(1);
  expect(result.code).toBe(0);
  const notes = result.events.filter((e) => e["type"] === "note").map((e) => e["message"]);
  expect(notes).toContainEqual(
    expect.stringMatching(/^lost the connection to PostgreSQL \(PostgreSQL: terminating/),
  );
  expect(summaryOf(result)).toMatchObject({ rowsRead: 6000, rowsRejected: 0, rowsProcessed: 6000 });
  expect((await stats()).rows.received).toBe(6000);
  expect(await profiles(sandbox)).toHaveLength(6000);
});

test.each<Runtime>(["deno", "bun"])("the same sync runs on %s", async (runtime) => {
  await accounts("everywhere", 1500);
  const result = await sync(select("everywhere"), [], { runtime });
  expectNoSecret(result);
  expect(result.code).toBe(0);
  expect(summaryOf(result)).toMatchObject({ rowsRead: 1500, rowsProcessed: 1500 });
  expect(await profiles(sandbox)).toHaveLength(1500);
});
