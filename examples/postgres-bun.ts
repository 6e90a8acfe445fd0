/// <reference types="bun" />
/**
 * A Bun script: sync users straight from PostgreSQL into Userpilot (or the sandbox) with a
 * postgres.js instance of your own (here with TLS from the URL's `sslmode`), printing progress
 * as each job completes; Ctrl-C stops it between requests.
 *   DATABASE_URL=postgres://…?sslmode=require USERPILOT_API_KEY=… bun examples/postgres-bun.ts
 * POLL_INTERVAL_MS: how often a running job is polled (default 5,000).
 * (In your project: `bun add userpilot-bulk postgres`, then import from "userpilot-bulk" and
 * "userpilot-bulk/postgres".)
 */
import postgres from "postgres";
import { UserpilotClient } from "../mod.ts";
import { syncFromPostgres } from "../src/postgres/mod.ts";

const sql = postgres(Bun.env["DATABASE_URL"] ?? "", { max: 2 });
const stop = new AbortController();
process.once("SIGINT", () => stop.abort(new Error("interrupted")));
try {
  const result = await syncFromPostgres({
    sql,
    client: UserpilotClient.fromEnv(Bun.env, { pollIntervalMs: Number(Bun.env["POLL_INTERVAL_MS"] ?? 5000) }),
    query:
      "select id::text as user_id, email, plan, seats, last_seen_at from app_users where deleted_at is null",
    signal: stop.signal,
    onProgress: (event) => {
      if (event.type === "completed") console.log(`job done: ${event.totals.processed} rows processed`);
    },
  });
  console.log(`Done: ${result.rows} rows read, ${result.issueCount} rejected`);
} finally {
  await sql.end();
}
