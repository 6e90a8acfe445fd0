/**
 * The PostgreSQL examples for Deno and Bun, run from the clone as their headers say, against a
 * real PostgreSQL server and the sandbox on a socket. (The Node example runs from the packed
 * package: test/postgres-package.test.ts.)
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { promisify } from "node:util";
import postgres from "postgres";
import { expect, inject, test } from "vitest";
import { API_KEY, profiles, ROOT, sandboxForFile } from "../cli/support.ts";
import { seedAppTables } from "./app-tables.ts";

const run = promisify(execFile);
const { sandbox } = sandboxForFile();

test("the Deno example syncs companies (NULL left untouched) and the Bun example users", async () => {
  const sql = postgres(inject("postgresUrl"), { max: 1, onnotice: () => {} });
  try {
    await seedAppTables(sql);
  } finally {
    await sql.end();
  }
  const env = {
    ...process.env,
    DATABASE_URL: inject("postgresUrl"),
    USERPILOT_API_KEY: API_KEY,
    USERPILOT_BASE_URL: sandbox.baseUrl,
    DENO_NO_UPDATE_CHECK: "1",
    POLL_INTERVAL_MS: "5",
  };
  const deno = await run(
    join(ROOT, "node_modules/.bin/deno"),
    ["run", "--allow-net", "--allow-env", "--allow-read", "examples/postgres-deno.ts"],
    { cwd: ROOT, env },
  );
  expect(deno.stdout).toContain("Done: 3 companies read, 1 job(s), 0 rejected");
  const companies = await profiles(sandbox, "companies");
  expect(companies.map((c) => [c.company_id, c.metadata])).toEqual([
    ["1", { name: "Acme", plan: "pro", seats: 2, mrr: 150 }],
    ["2", { name: "Globex", plan: "team", seats: 1, mrr: 20.5 }],
    ["3", { name: "Initech", seats: 0 }], // plan and mrr NULL: left out, not cleared
  ]);

  const bun = await run(join(ROOT, "node_modules/.bin/bun"), ["examples/postgres-bun.ts"], {
    cwd: ROOT,
    env,
  });
  expect(bun.stdout).toContain("job done: 3 rows processed");
  expect(bun.stdout).toContain("Done: 3 rows read, 0 rejected");
  const users = await profiles(sandbox);
  expect(users.map((u) => u.user_id)).toEqual(["10", "11", "12"]);
  expect(users[2]!.metadata).toEqual({ email: "c@globex.test", plan: "team", seats: 1 }); // last_seen_at NULL: cleared
});
