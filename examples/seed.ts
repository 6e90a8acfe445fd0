/**
 * `npm run example:seed`: serve the local Userpilot sandbox, bulk-identify the users of the
 * original sample (`test/fixtures/seed-bulk-identify.txt`) through `UserpilotClient`, follow the
 * job to `completed`, and print what the sandbox now holds for each user. No account needed.
 */
import { serve } from "@hono/node-server";
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { type BulkProgress, type UserInput, UserpilotClient } from "../mod.ts";
import { createSandbox, SANDBOX_API_KEY } from "../src/sandbox/mod.ts";
import { seedUsers } from "./seed-rows.ts";

const seedFile = new URL("../test/fixtures/seed-bulk-identify.txt", import.meta.url);
// Checked at run time like any row: a file's contents are not known to TypeScript.
const users = seedUsers(await readFile(seedFile, "utf8")) as UserInput[];

const sandbox = createSandbox();
const server = serve({ fetch: sandbox.fetch, hostname: "127.0.0.1", port: 0 });
await new Promise((resolve) => server.once("listening", resolve));
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
console.log(`Sandbox (Userpilot stand-in, 1,200 rows/min) on ${baseUrl}`);

const client = new UserpilotClient({ apiKey: SANDBOX_API_KEY, baseUrl, pollIntervalMs: 250 });
const report = (event: BulkProgress): void => {
  if (event.type === "read") {
    const { read, rejected, planned } = event.totals;
    console.log(`Read ${read} user(s): ${planned} to send, ${rejected} rejected`);
  }
  if (event.type === "submitted") {
    console.log(`Job of ${event.rows} row(s) submitted: ${event.job.job_id}`);
  }
  if (event.type === "job") {
    console.log(
      `  ${event.job.status} ${event.job["completed_rows"] ?? 0}/${event.job["total_rows"] ?? "?"} rows`,
    );
  }
  if (event.type === "retry") {
    console.log(`  retry ${event.attempt} in ${Math.round(event.delayMs)} ms: ${event.reason}`);
  }
};
try {
  const { jobs, rejected } = await client.bulkIdentifyUsers(users, { onProgress: report });
  console.log(
    `Done: ${jobs.length} job(s) ${
      jobs.map((job) => job.status).join(", ")
    }; ${rejected.length} row(s) rejected`,
  );
  for (const user of users) {
    const response = await fetch(`${baseUrl}/__sandbox/users/${encodeURIComponent(user.user_id)}`);
    console.log(`\nSandbox now holds ${user.user_id}:`);
    console.log(JSON.stringify(await response.json(), null, 2));
  }
} finally {
  server.close();
}
