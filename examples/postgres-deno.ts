/**
 * A Deno script: sync companies straight from PostgreSQL into Userpilot (or the sandbox), each
 * company's plan, seats and MRR from an aggregate query. A NULL leaves the property as Userpilot
 * has it (`nulls: "untouched"`).
 *   DATABASE_URL=postgres://… USERPILOT_API_KEY=… deno run --allow-net --allow-env --allow-read examples/postgres-deno.ts
 * POLL_INTERVAL_MS: how often a running job is polled (default 5,000).
 * (In your project: `deno add npm:userpilot-bulk npm:postgres`, then import from
 * "npm:userpilot-bulk" and "npm:userpilot-bulk/postgres".)
 */
import { UserpilotClient } from "../mod.ts";
import { connectPostgres, syncFromPostgres } from "../src/postgres/mod.ts";

const sql = await connectPostgres(Deno.env.get("DATABASE_URL") ?? "");
try {
  const { rows, jobs, rejected } = await syncFromPostgres({
    sql,
    kind: "companies",
    client: UserpilotClient.fromEnv(Deno.env.toObject(), {
      pollIntervalMs: Number(Deno.env.get("POLL_INTERVAL_MS") ?? 5000),
    }),
    query: `select c.id::text as company_id, c.name, c.plan, count(u.id) as seats, sum(u.mrr) as mrr
            from app_companies c left join app_users u on u.company_id = c.id and u.deleted_at is null
            group by c.id, c.name, c.plan`,
    nulls: "untouched",
  });
  console.log(`Done: ${rows} companies read, ${jobs.length} job(s), ${rejected.length} rejected`);
  for (const issue of rejected) console.warn(`company ${issue.id}: ${issue.path} ${issue.message}`);
} finally {
  await sql.end();
}
