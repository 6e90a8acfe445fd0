// A Node script: keep Userpilot's user properties in step with your database, straight from a
// PostgreSQL query, with no export file. Memory stays flat whatever the table's size; an
// interrupted sync goes on after the last id it settled (the position is kept in a small file).
// Not yet on npm: install the tarball `npm pack` makes in a clone, and the PostgreSQL driver:
//   npm install /path/to/userpilot-bulk-0.1.0.tgz postgres
//   DATABASE_URL=postgres://… USERPILOT_API_KEY=… node postgres-node.mjs
// POLL_INTERVAL_MS: how often a running job is polled (default 5,000).
// Against the sandbox (npm run sandbox): USERPILOT_API_KEY=sandbox-api-key USERPILOT_BASE_URL=http://127.0.0.1:4010
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { UserpilotClient } from "userpilot-bulk";
import { connectPostgres, syncFromPostgres } from "userpilot-bulk/postgres";

const POSITION_FILE = process.env.SYNC_POSITION_FILE ?? "users-sync.position.json";
let position;
try {
  position = JSON.parse(readFileSync(POSITION_FILE, "utf8"));
  console.log(`going on after id ${position.after}, where the last sync stopped`);
} catch {
  // no interrupted sync: from the first id
}

const sql = await connectPostgres(process.env.DATABASE_URL ?? "");
try {
  const result = await syncFromPostgres({
    sql,
    client: UserpilotClient.fromEnv(process.env, {
      pollIntervalMs: Number(process.env.POLL_INTERVAL_MS ?? 5000),
    }),
    // Every column but the ids is a property; NULL clears it at Userpilot (nulls: "untouched" keeps it).
    query: `select id::text as user_id, company_id::text, email, plan, seats, last_seen_at
            from app_users where deleted_at is null`,
    state: { position, onCheckpoint: (next) => writeFileSync(POSITION_FILE, JSON.stringify(next)) },
  });
  rmSync(POSITION_FILE, { force: true }); // completed: the next sync starts from the first id
  console.log(`Done: ${result.rows} rows read, ${result.jobs.length} job(s), ${result.issueCount} rejected`);
  for (const issue of result.rejected) console.warn(`id ${issue.id}: ${issue.path} ${issue.message}`);
  if (result.issueCount > 0) process.exitCode = 1;
} finally {
  await sql.end();
}
