/**
 * The PostgreSQL source against a real server (test/postgres/postgres.global.ts): every type
 * mapping, both meanings of NULL, the query's problems caught before a row is read, a lost
 * connection mid-stream, and syncFromPostgres into the in-process sandbox.
 */
import postgres, { type Sql } from "postgres";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import {
  connectPostgres,
  type PostgresPosition,
  type PostgresRecord,
  PostgresSourceError,
  type ReadPostgresOptions,
  readPostgresRows,
  syncFromPostgres,
} from "../../src/postgres/mod.ts";
import { redacted } from "../../src/postgres/errors.ts";
import { inProcess } from "../support/in-process.ts";
import { POSTGRES_PASSWORD } from "../support/postgres.ts";

let sql: Sql;
let admin: Sql;

beforeAll(async () => {
  sql = await connectPostgres(inject("postgresUrl"));
  admin = postgres(inject("postgresAdminUrl"), { max: 1, onnotice: () => {} });
  await sql.unsafe(`
    create type plan as enum ('free', 'pro');
    create table typed (
      id int primary key, label text, small smallint, big bigint, ratio real, score double precision,
      price numeric, flag boolean, born date, seen timestamp, paid timestamptz, tier plan, token uuid,
      label_vc varchar(20), code char(3), span interval
    );
    insert into typed values
      (1, 'Ada', 7, 9007199254740991, 0.5, 2.25, 12.5, true, '2024-02-29', '2024-05-01 13:45:00.123456',
       '2024-05-01 13:45:00.5+02', 'pro', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'vc', 'ab', '1 day'),
      (2, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null),
      (3, 'Big', 1, 9007199254740993, 1, 1, 123456789012345678901234567890, false, '2024-01-01',
       'infinity', '-infinity', 'free', null, 'x', 'xyz', '2 hours'),
      (4, 'Nan', 1, -9007199254740991, 'NaN', 'Infinity', 'NaN', false, '0044-03-15 BC', '2024-01-01', '2024-01-01',
       'free', null, 'x', 'x', '0');
  `).simple();
});

afterAll(async () => {
  await sql?.end();
  await admin?.end();
});

async function read(query: string, options: Partial<ReadPostgresOptions> = {}): Promise<PostgresRecord[]> {
  const records: PostgresRecord[] = [];
  for await (const record of readPostgresRows(sql, query, { kind: "users", ...options })) {
    records.push(record);
  }
  return records;
}

async function failure(query: string, options: Partial<ReadPostgresOptions> = {}): Promise<string> {
  const error = await read(query, options).then(() => undefined, (error: unknown) => error);
  expect(error).toBeInstanceOf(PostgresSourceError);
  return (error as Error).message;
}

const ALL =
  "select id as user_id, label, small, big, ratio, score, price, flag, born, seen, paid, tier, token, " +
  "label_vc, code, span from typed";

describe("types", () => {
  test("each PostgreSQL type maps to one kind of property value", async () => {
    const [first] = await read(`${ALL} where id = 1`);
    expect(first).toEqual({
      at: 1,
      key: "1",
      row: {
        user_id: "1",
        metadata: {
          label: "Ada",
          small: 7,
          big: 9007199254740991, // 2^53 - 1: still exact
          ratio: 0.5,
          score: 2.25,
          price: 12.5,
          flag: true,
          born: "2024-02-29T00:00:00.000Z",
          seen: "2024-05-01T13:45:00.123Z", // a timestamp without a zone is UTC
          paid: "2024-05-01T11:45:00.500Z", // a timestamptz in UTC
          tier: "pro", // an enum: its label
          token: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
          label_vc: "vc",
          code: "ab ", // char(3) as PostgreSQL pads it
          span: "1 day", // any other type: PostgreSQL's text
        },
      },
    });
  });

  test("values no JSON number or ISO date can hold are per-row issues naming the column, never rounded", async () => {
    const records = await read(`${ALL} where id in (3, 4)`);
    expect(records).toEqual([
      {
        at: 1,
        key: "3",
        issues: [
          { path: "metadata.big", message: expect.stringMatching(/beyond 2\^53.*cast it to text/) },
          { path: "metadata.price", message: expect.stringMatching(/beyond 2\^53/) },
          { path: "metadata.seen", message: expect.stringMatching(/infinity/) },
          { path: "metadata.paid", message: expect.stringMatching(/infinity/) },
        ],
      },
      {
        at: 2,
        key: "4",
        issues: [
          { path: "metadata.ratio", message: expect.stringMatching(/not a finite number/) },
          { path: "metadata.score", message: expect.stringMatching(/not a finite number/) },
          { path: "metadata.price", message: expect.stringMatching(/not a finite number/) },
          { path: "metadata.born", message: expect.stringMatching(/BC/) },
        ],
      },
    ]);
    // An issue never quotes the value.
    expect(JSON.stringify(records)).not.toMatch(/9007199254740993|123456789012345678901234567890/);
  });

  test("NULL clears the property by default, or leaves it untouched with nulls: untouched", async () => {
    const [cleared] = await read("select id as user_id, label, big, flag, born from typed where id = 2");
    expect(cleared).toEqual({
      at: 1,
      key: "2",
      row: { user_id: "2", metadata: { label: null, big: null, flag: null, born: null } },
    });
    const [untouched] = await read("select id as user_id, label, big from typed where id = 2", {
      nulls: "untouched",
    });
    expect(untouched).toEqual({ at: 1, key: "2", row: { user_id: "2", metadata: {} } });
  });

  test("a NULL id is a per-row issue, in its place after every id (resumable by count)", async () => {
    const records = await read(
      "select * from (values ('b', 1), (null, 2), ('a', 3), (null, 4)) as v(user_id, n)",
    );
    expect(records.map((r) => [r.at, r.key, "issues" in r ? r.issues : "row"])).toEqual([
      [1, "a", "row"],
      [2, "b", "row"],
      [3, null, [{ path: "user_id", message: 'is NULL (column "user_id")' }]],
      [4, null, [{ path: "user_id", message: 'is NULL (column "user_id")' }]],
    ]);
  });

  test("company ids and named id columns; companies' rows", async () => {
    const users = await read("select 'u1' as account, 42 as org, 'x' as plan", {
      idColumn: "account",
      companyColumn: "org",
    });
    expect(users).toEqual([{
      at: 1,
      key: "u1",
      row: { user_id: "u1", company_id: "42", metadata: { plan: "x" } },
    }]);
    const companies = await read("select 'acme' as company_id, 3 as seats", { kind: "companies" });
    expect(companies).toEqual([{ at: 1, key: "acme", row: { company_id: "acme", metadata: { seats: 3 } } }]);
  });
});

describe("the query's problems, before any row is read", () => {
  test("bad SQL: PostgreSQL's message and where in the query, not a stack trace", async () => {
    const message = await failure("select id as user_id,\n  labl from typed");
    expect(message).toBe(
      'PostgreSQL: column "labl" does not exist (at line 2, column 3 of the query); hint: Perhaps you meant ' +
        'to reference the column "typed.label". (SQLSTATE 42703)',
    );
    expect(await failure("selec 1")).toMatch(
      /^PostgreSQL: syntax error at or near "selec" \(at line 1, column 1/,
    );
    expect(await failure("select 1 as user_id; select 2")).toMatch(/cannot insert multiple commands/);
    expect(await failure("  ;  ")).toBe("the query is empty");
  });

  test("columns no row could send are named, each with the fix", async () => {
    const message = await failure(
      "select id, '{}'::jsonb as prefs, array[1, 2] as tags, '\\x00'::bytea as blob, 1, 2 as id from typed",
    );
    expect(message).toContain('the query has no "user_id" column for the ids');
    expect(message).toContain('the query has two columns named "id"');
    expect(message).toContain("column 5 has no name: give it one with AS");
    expect(message).toContain('column "prefs" is jsonb: flatten it in the query');
    expect(message).toContain('column "tags" is integer[]: an array is no property value');
    expect(message).toContain('column "blob" is bytea');
    expect(await failure("select 1.5 as user_id")).toMatch(
      /the id column "user_id" is numeric: ids must be text/,
    );
    expect(await failure("delete from typed where false")).toMatch(/returns no columns/);
  });

  test("the query runs read-only: it cannot change the database", async () => {
    await sql.unsafe(
      "create function bump() returns int language sql as 'update typed set small = 0 returning 1'",
    );
    const message = await failure("select id as user_id, bump() as n from typed");
    expect(message).toMatch(/read-only transaction/);
    expect((await sql`select count(*)::int as n from typed where small = 0`)[0]!["n"]).toBe(0);
  });

  test("a connection string that cannot work is refused without quoting it", async () => {
    const url = inject("postgresUrl");
    const wrong = url.replace(POSTGRES_PASSWORD, `${POSTGRES_PASSWORD}-wrong`);
    const bad = await connectPostgres(wrong);
    const error = await (async () => {
      for await (const _ of readPostgresRows(bad, "select 1 as user_id", { kind: "users" })) { /* none */ }
    })().then(() => undefined, (e: unknown) => e);
    await bad.end();
    expect((error as Error).message).toMatch(/password authentication failed/);
    expect((error as Error).message).not.toContain(POSTGRES_PASSWORD);
    await expect(connectPostgres(`mysql://user:${POSTGRES_PASSWORD}@host/db`)).rejects.toThrow(
      /^the connection string is not a PostgreSQL URL \(postgres:/,
    );
  });
});

describe("streaming in id order", () => {
  beforeAll(async () => {
    await sql.unsafe(`
      create table id_ordered (id text, plan text);
      insert into id_ordered select 'u' || lpad(g::text, 5, '0'), 'p' || (g % 3) from generate_series(1, 2500) g;
      insert into id_ordered values ('u00007', 'second row of u00007'), (null, 'no id');
    `).simple();
  });

  const ids = (records: PostgresRecord[]) => records.map((r) => r.key);

  test("rows come in id order, from a position on (after it, or from it when inclusive)", async () => {
    const all = await read("select id as user_id, plan from id_ordered", { batchRows: 100 });
    expect(all).toHaveLength(2502);
    expect(ids(all).slice(0, 3)).toEqual(["u00001", "u00002", "u00003"]);
    expect(all.at(-1)).toMatchObject({ key: null });
    const after: PostgresPosition = { after: "u00007" };
    expect(ids(await read("select id as user_id, plan from id_ordered", { from: after })).slice(0, 2))
      .toEqual([
        "u00008",
        "u00009",
      ]);
    const from = await read("select id as user_id, plan from id_ordered", {
      from: { ...after, inclusive: true },
    });
    expect(ids(from).slice(0, 3)).toEqual(["u00007", "u00007", "u00008"]);
  });

  test("a connection lost mid-stream: reconnects and goes on after the last id, nothing twice or missed", async () => {
    const reasons: string[] = [];
    const records: PostgresRecord[] = [];
    let killed = 0;
    for await (
      const record of readPostgresRows(sql, "select id as user_id, plan from id_ordered", {
        kind: "users",
        batchRows: 50,
        reconnectDelayMs: 10,
        onReconnect: (_attempt, reason) => reasons.push(reason),
      })
    ) {
      records.push(record);
      if (records.length === 300 || records.length === 1700) {
        killed +=
          (await admin`select count(*)::int as n from (select pg_terminate_backend(pid) from pg_stat_activity
          where usename = 'userpilot_sync' and backend_type = 'client backend') t`)[0]!["n"] as number;
      }
    }
    expect(killed).toBeGreaterThanOrEqual(2);
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toMatch(/57P01|CONNECTION/);
    const expected = await read("select id as user_id, plan from id_ordered");
    expect(records).toEqual(expected); // every row once, in order, numbered alike
  });

  test("a connection that cannot come back fails clearly once the reconnections are used up", async () => {
    const error = await (async () => {
      let n = 0;
      for await (
        const _ of readPostgresRows(sql, "select id as user_id, plan from id_ordered", {
          kind: "users",
          batchRows: 50,
          reconnects: 2,
          reconnectDelayMs: 10,
        })
      ) {
        if (++n === 100) await admin.unsafe("alter role userpilot_sync nologin");
        if (n % 100 === 0) {
          await admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = 'userpilot_sync'`;
        }
      }
    })().then(() => undefined, (e: unknown) => e).finally(() =>
      admin.unsafe("alter role userpilot_sync login")
    );
    expect(error).toBeInstanceOf(PostgresSourceError);
    expect((error as Error).message).toMatch(
      /^reading the query's rows failed: reconnecting after a lost connection: PostgreSQL: role "userpilot_sync" is not permitted to log in/,
    );
    expect((error as Error).message).not.toContain(POSTGRES_PASSWORD);
  });
});

describe("syncFromPostgres", () => {
  test("delivers every good row, names the others by id, and reports where a later sync goes on", async () => {
    const { client, inspect } = inProcess();
    const positions: PostgresPosition[] = [];
    const result = await syncFromPostgres({
      sql,
      client,
      query: "select id as user_id, label as name, big, flag from typed",
      maxRows: 2,
      state: { onCheckpoint: (position) => void positions.push(position) },
    });
    expect(result.rows).toBe(4);
    expect(result.jobs.length).toBeGreaterThan(0);
    expect(result.rejected).toEqual([
      { index: 2, id: "3", path: "metadata.big", message: expect.stringMatching(/beyond 2\^53/) },
    ]);
    expect(result.issueCount).toBe(1);
    expect(result.position).toEqual({ after: "4" });
    expect(positions.at(-1)).toEqual({ after: "4" });
    const ada = await inspect<{ metadata: Record<string, unknown> }>("/__sandbox/users/1");
    expect(ada.body.metadata).toMatchObject({ name: "Ada", big: 9007199254740991, flag: true });
    expect((await inspect("/__sandbox/users/3")).status).toBe(404);
    // Go on from where it got to: only rows with a later id.
    const again = await syncFromPostgres({
      sql,
      client,
      query: "select id as user_id, label as name from typed",
      state: { position: { after: "2" } },
    });
    expect(again.rows).toBe(2);
  });

  test("a row the core refuses is named by its id and its place in the query", async () => {
    const { client } = inProcess();
    const result = await syncFromPostgres({
      sql,
      client,
      query:
        "select * from (values ('a', 'ok'), ('', 'empty id'), ('c', repeat('x', 9000))) as v(user_id, note)",
    });
    expect(result.rejected.map(({ index, id, path }) => ({ index, id, path }))).toEqual([
      { index: 0, id: "", path: "user_id" },
      { index: 2, id: "c", path: "metadata.note" },
    ]);
  });
});

test("the last guard takes the connection string, its credentials and a long password out of any message", () => {
  const url = `postgres://sync:${POSTGRES_PASSWORD}@db.example.com:5432/app`;
  expect(redacted(`failed at ${url} for sync:${POSTGRES_PASSWORD} (${POSTGRES_PASSWORD})`, url)).toBe(
    "failed at *** for *** (***)",
  );
  // A short password is not hunted for in ordinary words.
  expect(redacted("the package postgres", "postgres://u:p@h/db")).toBe("the package postgres");
});
