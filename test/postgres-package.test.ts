/**
 * `userpilot-bulk/postgres` as a user installs it: the packed tarball in an empty project. Without
 * the optional peer `postgres`, the package installs and imports, and a sync says which package
 * to install; with it, the Node example syncs from a real PostgreSQL server into the sandbox.
 */
import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { promisify } from "node:util";
import postgres from "postgres";
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import { API_KEY, profiles, ROOT, type Sandbox, startSandbox } from "./cli/support.ts";
import { seedAppTables } from "./postgres/app-tables.ts";
import { type PostgresServer, startPostgres } from "./support/postgres.ts";

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), "userpilot-pg-package-"));
const project = join(work, "project");
let server: PostgresServer | undefined;
let sandbox: Sandbox | undefined;

beforeAll(async () => {
  execFileSync("mkdir", ["-p", project]);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }),
  );
  execFileSync("npm", ["install", inject("tarball"), "--no-audit", "--no-fund", "--prefer-offline"], {
    cwd: project,
    stdio: "ignore",
  });
  [server, sandbox] = await Promise.all([startPostgres(), startSandbox()]);
}, 180_000);

afterAll(async () => {
  await sandbox?.close();
  server?.stop();
  rmSync(work, { recursive: true, force: true });
});

test("without postgres installed: the package imports, and a sync names the package to install", async () => {
  expect(existsSync(join(project, "node_modules/postgres"))).toBe(false);
  const script = `import { connectPostgres } from "userpilot-bulk/postgres";
    await connectPostgres("postgres://u:p@127.0.0.1:1/db").then(() => console.log("connected?"), (e) => console.log(e.name, e.message));`;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: project });
  expect(stdout).toMatch(
    /^PostgresSourceError syncing from PostgreSQL needs the package "postgres" \(postgres\.js 4\.2 or later\), an optional peer dependency of userpilot-bulk that is not installed: npm install postgres@\^4\.2\.0/,
  );
  // The CLI says the same, in one line, before reading anything.
  const cli = await run(
    process.execPath,
    [
      "node_modules/userpilot-bulk/dist/src/cli/main.js",
      "users",
      "--from-postgres",
      "env:DATABASE_URL",
      "--query",
      "select 1",
      "--dry-run",
    ],
    { cwd: project, env: { ...process.env, DATABASE_URL: "postgres://u:p@127.0.0.1:1/db" } },
  ).then(() => undefined, (error: { code: number; stderr: string }) => error);
  expect(cli?.code).toBe(2);
  expect(cli?.stderr).toMatch(/^userpilot-bulk: syncing from PostgreSQL needs the package "postgres"/);
});

test("with postgres installed: the Node example syncs users from PostgreSQL to the sandbox", async () => {
  execFileSync("npm", ["install", "postgres@4.2.0", "--no-audit", "--no-fund", "--prefer-offline"], {
    cwd: project,
    stdio: "ignore",
  });
  const sql = postgres(server!.url, { max: 1, onnotice: () => {} });
  try {
    await seedAppTables(sql);
  } finally {
    await sql.end();
  }
  copyFileSync(join(ROOT, "examples/postgres-node.mjs"), join(project, "postgres-node.mjs"));
  const { stdout } = await run(process.execPath, ["postgres-node.mjs"], {
    cwd: project,
    env: {
      ...process.env,
      DATABASE_URL: server!.url,
      USERPILOT_API_KEY: API_KEY,
      USERPILOT_BASE_URL: sandbox!.baseUrl,
      POLL_INTERVAL_MS: "5",
    },
  });
  expect(stdout).toContain("Done: 3 rows read, 1 job(s), 0 rejected");
  expect(existsSync(join(project, "users-sync.position.json"))).toBe(false); // completed: nothing to resume
  const users = await profiles(sandbox!);
  expect(users[0]).toEqual({
    user_id: "10",
    company_id: "1",
    metadata: { email: "a@acme.test", plan: "pro", seats: 3, last_seen_at: "2026-01-02T03:04:05.000Z" },
  });
});
