/**
 * A Deno script: stream users from an async generator into Userpilot (or the sandbox), one window
 * of 10,000 at a time, the next window generated while Userpilot processes the last. Memory stays
 * flat however many users there are.
 *   USERPILOT_API_KEY=… deno run --allow-net --allow-env examples/deno-stream.ts
 *   # against the sandbox (npm run sandbox): USERPILOT_API_KEY=sandbox-api-key USERPILOT_BASE_URL=http://127.0.0.1:4010
 * Settings: USERS (how many to generate, default 2,000), POLL_INTERVAL_MS (default 5,000).
 * For millions of rows, `--v8-flags=--optimize-for-size` keeps the heap near what is live (about
 * 100 MB instead of 170 MB for 1,000,000 users; see BENCHMARKS.md §8).
 * It uses only the core and `process.env` (which Deno provides too), so Node and Bun run it as is.
 * (In your project: import { UserpilotClient } from "npm:userpilot-bulk".)
 */
import process from "node:process";
import { type UserInput, UserpilotClient } from "../mod.ts";

const count = Number(process.env["USERS"] ?? 2000);
const pollIntervalMs = Number(process.env["POLL_INTERVAL_MS"] ?? 5000);

/** Users as a cursor or a paginated API would hand them over: one at a time, never all at once. */
async function* users(): AsyncGenerator<UserInput> {
  for (let i = 0; i < count; i++) {
    yield {
      user_id: `stream_user_${i}`,
      company_id: `stream_company_${i % 500}`,
      metadata: {
        name: `User ${i}`,
        email: `user${i}@example.com`,
        plan: i % 7 === 0 ? "enterprise" : i % 3 === 0 ? "pro" : "free",
        seats: (i % 50) + 1,
        signed_up_at: new Date(Date.UTC(2024, 0, 1) + i * 60_000),
      },
    };
  }
}

const client = UserpilotClient.fromEnv(process.env, { pollIntervalMs });
const started = Date.now();
let lastLog = 0;
const { jobs, rejected, issueCount } = await client.bulkIdentifyUsers(users(), {
  onProgress: (event) => {
    if (!("totals" in event) || Date.now() - lastLog < 5000) return;
    lastLog = Date.now();
    const { read, processed } = event.totals;
    console.error(`read ${read}, processed by Userpilot ${processed}`);
  },
});
const seconds = (Date.now() - started) / 1000;
console.log(JSON.stringify({
  users: count,
  jobs: jobs.length,
  rejected: issueCount,
  firstIssues: rejected.slice(0, 3),
  seconds,
  rowsPerSecond: Math.round(count / seconds),
}));
