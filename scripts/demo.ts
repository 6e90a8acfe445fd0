/**
 * `npm run demo`: send a burst of identify traffic (the same users again and again, signed and
 * keyed) to the local stack, then watch it drain, merged, into the sandbox. Uses a running
 * `npm start` if there is one, or starts its own.
 */
import { signPayload } from "../mod.ts";
import {
  DEV_ADMIN_KEY,
  DEV_INGEST_KEY,
  DEV_SIGNING_SECRET,
  type LocalStack,
  startLocalStack,
} from "./local-stack.ts";

const CALLS = Number(process.env["DEMO_CALLS"] ?? 300);
const USERS = Number(process.env["DEMO_USERS"] ?? 40);
const workerUrl = process.env["WORKER_URL"] ?? "http://127.0.0.1:8787";
const sandboxUrl = process.env["SANDBOX_URL"] ?? "http://127.0.0.1:4010";

let own: LocalStack | undefined;
try {
  await fetch(`${workerUrl}/health`);
  console.log(`Using the stack already running at ${workerUrl}`);
} catch {
  console.log("Starting the local stack (sandbox + wrangler dev)…");
  own = await startLocalStack();
}

type Row = { user_id: string; company_id?: string; metadata: Record<string, string | number | null> };
const expected = new Map<string, Row>();
const plans = ["free", "pro", "enterprise"];
const sent: Row[] = Array.from({ length: CALLS }, (_, i) => {
  const row: Row = { user_id: `demo_user_${i % USERS}`, metadata: { plan: plans[i % 3]!, last_login: i } };
  if (i % 9 === 0) row.metadata["trial_ends_at"] = null;
  if (i % 5 === 0) row.company_id = `demo_company_${i % 4}`;
  return row;
});

const before = await (await fetch(`${sandboxUrl}/__sandbox/stats`)).json() as { rows: { received: number } };
const started = performance.now();
let accepted = 0;
// Each user's calls go in order (a user's updates are causally ordered); users go in parallel.
await Promise.all(
  Array.from({ length: 8 }, async (_, lane) => {
    for (let i = lane; i < sent.length; i += 8) {
      const row = sent[i]!;
      const body = JSON.stringify(row);
      const auth = i % 2 === 0
        ? { Authorization: `Bearer ${DEV_INGEST_KEY}` }
        : await signPayload(DEV_SIGNING_SECRET, body);
      const response = await fetch(`${workerUrl}/v1/identify`, {
        method: "POST",
        headers: { ...auth, "Content-Type": "application/json" },
        body,
      });
      if (response.status === 202) accepted++;
      else console.log(`call ${i}: HTTP ${response.status} ${await response.text()}`);
    }
  }),
);
console.log(
  `Sent ${CALLS} identify calls for ${USERS} users in ${
    Math.round(performance.now() - started)
  } ms; ${accepted} accepted (202).`,
);

for (const row of sent) {
  const profile = expected.get(row.user_id) ?? { user_id: row.user_id, metadata: {} };
  if (row.company_id) profile.company_id = row.company_id;
  for (const [key, value] of Object.entries(row.metadata)) {
    if (value === null) delete profile.metadata[key];
    else profile.metadata[key] = value;
  }
  expected.set(row.user_id, profile);
}

const deadline = Date.now() + 120_000;
for (;;) {
  const status =
    await (await fetch(`${workerUrl}/v1/status`, { headers: { Authorization: `Bearer ${DEV_ADMIN_KEY}` } }))
      .json() as {
        pending: { users: number; companies: number };
        job: { status: string | null; completedRows: number | null; rows: number } | null;
        estimatedDrainSeconds: number;
      };
  const job = status.job
    ? `job ${status.job.status ?? "submitting"} ${status.job.completedRows ?? 0}/${status.job.rows}`
    : "no job";
  console.log(
    `  pending ${status.pending.users} users, ${status.pending.companies} companies; ${job}; ~${status.estimatedDrainSeconds} s to drain`,
  );
  const all = await Promise.all(
    [...expected.keys()].map(async (id) => (await fetch(`${sandboxUrl}/__sandbox/users/${id}`)).json()),
  );
  const matching = all.filter((profile, i) =>
    JSON.stringify(profile) === JSON.stringify(sortKeys([...expected.values()][i]!))
  );
  if (matching.length === expected.size && !status.job && status.pending.users === 0) break;
  if (Date.now() > deadline) {
    console.log(`Gave up waiting: ${matching.length}/${expected.size} profiles match so far.`);
    process.exitCode = 1;
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
const after = await (await fetch(`${sandboxUrl}/__sandbox/stats`)).json() as { rows: { received: number } };
if (!process.exitCode) {
  console.log(`\nAll ${expected.size} profiles in the sandbox equal the merge of the ${CALLS} calls.`);
  console.log(
    `Userpilot processed ${
      after.rows.received - before.rows.received
    } rows instead of ${CALLS}: repeated updates were merged.`,
  );
  console.log(
    `Example: ${JSON.stringify(await (await fetch(`${sandboxUrl}/__sandbox/users/demo_user_0`)).json())}`,
  );
}
await own?.stop();

function sortKeys(row: Row): Record<string, unknown> {
  const view: Record<string, unknown> = { user_id: row.user_id };
  if (row.company_id) view["company_id"] = row.company_id;
  view["metadata"] = row.metadata;
  return view;
}
