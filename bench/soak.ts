/**
 * `npm run soak`: a bounded fault soak through the local stack. The sandbox (Userpilot) injects
 * 429 (with Retry-After), 5xx, dropped connections and failed jobs, each at 20%, and a bulk job
 * started elsewhere holds Userpilot's single job slot at the start (so the Durable Object meets
 * 409s). Then an outage: for SOAK_OUTAGE_SECONDS (default 10; with the soak's 1 s backoff cap
 * that stands for 10 minutes at Userpilot's 60 s cap) every job fails and half the calls answer
 * 5xx, while traffic goes on; then the 20% faults again. Identify calls (bearer and signed) and
 * bulk bodies go in through `wrangler dev`; after the backlog drains, every profile in the sandbox
 * must equal the merge of everything accepted, with no row set aside. Exits non-zero on any
 * mismatch, lost row, row set aside, ingestion error or timeout. Only 127.0.0.1; bounded in calls
 * (SOAK_CALLS, default 2,000) and time (SOAK_SECONDS to send, default 60; SOAK_DRAIN_SECONDS to
 * drain, default 240), paced over about 20 s (SOAK_PACE_MS) so the Durable Object runs many jobs.
 * The sandbox's fault dice are seeded (SOAK_SEED, printed), so a failing run replays.
 *
 *   node --import tsx bench/soak.ts
 */
import { isDeepStrictEqual } from "node:util";
import { signPayload } from "../mod.ts";
import { SANDBOX_API_KEY } from "../src/sandbox/mod.ts";
import { sleep } from "./measure.ts";
import { DEV_ADMIN_KEY, DEV_INGEST_KEY, DEV_SIGNING_SECRET, startBenchStack } from "./stack.ts";
import { expectedProfiles } from "../test/support/in-process.ts";

const CALLS = Number(process.env["SOAK_CALLS"] ?? 2000);
const USERS = Number(process.env["SOAK_USERS"] ?? 300);
const LANES = Number(process.env["SOAK_CONCURRENCY"] ?? 10);
const SEND_SECONDS = Number(process.env["SOAK_SECONDS"] ?? 60);
const DRAIN_SECONDS = Number(process.env["SOAK_DRAIN_SECONDS"] ?? 240);
const SEED = Number(process.env["SOAK_SEED"] ?? 1);
// Each lane waits this long between calls, spreading the calls over ~20 s so the Queue hands the
// Durable Object many small batches and it runs many jobs (each a chance for a fault).
const PACE_MS = Number(process.env["SOAK_PACE_MS"] ?? 100);
const OUTAGE_SECONDS = Number(process.env["SOAK_OUTAGE_SECONDS"] ?? 10);
// A multiple of LANES, so user k always belongs to lane k mod LANES.
const OWNED_USERS = USERS - (USERS % LANES);
const FAULTS = { rate429: 0.2, retryAfterSeconds: 1, rate5xx: 0.2, dropRate: 0.2, jobFailureRate: 0.2 };
const OUTAGE = { rate5xx: 0.5, jobFailureRate: 1 };

type Row = { user_id: string; company_id?: string; metadata?: Record<string, string | number | null> };
type Profile = { user_id: string; company_id?: string; metadata: Record<string, unknown> };
type Status = {
  pending: { users: number; companies: number };
  job: unknown;
  rowsReceived: number;
  setAside: { count: number; recent: unknown[] };
};

/** Deterministic updates: plans, counters, nulls that remove a property, company moves. */
function update(i: number, userId: string): Row {
  const metadata: Record<string, string | number | null> = {
    plan: ["free", "pro", "enterprise"][i % 3]!,
    seen: i,
  };
  if (i % 5 === 0) metadata["nickname"] = null;
  else if (i % 3 === 0) metadata[`nickname`] = `nick ${i}`;
  if (i % 11 === 0) metadata["seats"] = null;
  const row: Row = { user_id: userId, metadata };
  if (i % 7 === 0) row.company_id = `company_${(i + SEED) % 5}`;
  return row;
}

const stack = await startBenchStack({
  vars: { POLL_INTERVAL_MS: "50", BACKOFF_BASE_MS: "50", BACKOFF_MAX_MS: "1000" },
  sandbox: { rowsPerMinute: 600_000, queueMs: 5, seed: SEED },
  // SOAK_VERBOSE=1 prints the Worker's log lines (its delivery decisions) as they come.
  verbose: process.env["SOAK_VERBOSE"] === "1",
});
const problems: string[] = [];
try {
  const bearer = { Authorization: `Bearer ${DEV_INGEST_KEY}`, "Content-Type": "application/json" };
  const accepted: Row[] = [];
  const ingestStatuses = new Map<number, number>();
  const send = async (path: string, body: string, signed: boolean): Promise<number> => {
    const headers = signed
      ? { ...(await signPayload(DEV_SIGNING_SECRET, body)), "Content-Type": "application/json" }
      : bearer;
    let status = 0;
    try {
      const response = await fetch(`${stack.workerUrl}${path}`, { method: "POST", headers, body });
      status = response.status;
      await response.arrayBuffer();
    } catch {
      status = 0;
    }
    ingestStatuses.set(status, (ingestStatuses.get(status) ?? 0) + 1);
    return status;
  };

  // A job started elsewhere, slow enough to hold the slot while our first rows arrive: 409s.
  await stack.sandbox("/__sandbox/config", { rowsPerMinute: 3000 }); // 5 s: it meets our first jobs
  const elsewhere = Array.from(
    { length: 250 },
    (_, i) => ({ user_id: `elsewhere_${i}`, metadata: { source: "elsewhere" } }),
  );
  const other = await fetch(`${stack.sandboxUrl}/v1/users/bulk_identify`, {
    method: "POST",
    headers: { Authorization: `Token ${SANDBOX_API_KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify({ users: elsewhere }),
  });
  if (other.status !== 202) throw new Error(`the job started elsewhere answered ${other.status}`);
  await stack.sandbox("/__sandbox/config", { rowsPerMinute: 600_000 });
  await stack.sandbox("/__sandbox/faults", FAULTS);
  console.log(`sandbox fault seed ${SEED} (SOAK_SEED=${SEED} replays the dice)`);
  // The outage starts a few seconds in, while the lanes are sending, and ends on its own.
  const outage = (async () => {
    await sleep(3000);
    await stack.sandbox("/__sandbox/faults", OUTAGE);
    console.log(`outage: every job fails and half the calls answer 5xx for ${OUTAGE_SECONDS} s`);
    await sleep(OUTAGE_SECONDS * 1000);
    await stack.sandbox("/__sandbox/faults", FAULTS);
    console.log("outage over: back to 20% faults");
  })();

  const stopAt = Date.now() + SEND_SECONDS * 1000;
  let next = 0;
  // A bulk body first, then identify calls in lanes (lane k owns users ≡ k mod LANES, so each
  // user's calls are ordered), then a closing bulk body: "later" is always well defined.
  const bulk = async (offset: number) => {
    const users = Array.from({ length: USERS }, (_, u) => update(offset + u, `user_${u}`));
    if ((await send("/v1/users/bulk_identify", JSON.stringify({ users }), offset % 2 === 1)) === 202) {
      accepted.push(...users);
    }
  };
  await bulk(1_000_000);
  const lanes = await Promise.all(
    Array.from({ length: LANES }, async (_, lane) => {
      const mine: Row[] = [];
      for (let i = lane; i < CALLS && Date.now() < stopAt; i += LANES) {
        next++;
        const user = i % OWNED_USERS; // i ≡ lane (mod LANES), and so is its user: lanes never share one
        const row = update(i, `user_${user}`);
        if ((await send("/v1/identify", JSON.stringify(row), i % 2 === 1)) === 202) mine.push(row);
        await sleep(PACE_MS);
      }
      return mine;
    }),
  );
  // Lanes own disjoint users, so concatenating them keeps each user's order.
  for (const mine of lanes) accepted.push(...mine);
  await outage;
  await bulk(2_000_000);
  console.log(
    `sent ${next} identify calls and 2 bulk bodies; ingestion statuses ${
      JSON.stringify(Object.fromEntries(ingestStatuses))
    }`,
  );
  const rejectedAtIngest = [...ingestStatuses].filter(([status]) => status !== 202).reduce(
    (n, [, c]) => n + c,
    0,
  );
  if (rejectedAtIngest > 0) problems.push(`${rejectedAtIngest} ingestion calls were not accepted`);

  const deadline = Date.now() + DRAIN_SECONDS * 1000;
  let status: Status | undefined;
  while (Date.now() < deadline) {
    status = (await (await fetch(`${stack.workerUrl}/v1/status`, {
      headers: { Authorization: `Bearer ${DEV_ADMIN_KEY}` },
    })).json()) as Status;
    if (status.rowsReceived >= accepted.length && status.pending.users === 0 && status.job === null) break;
    await sleep(250);
  }
  const drained = status !== undefined && status.pending.users === 0 && status.job === null &&
    status.rowsReceived >= accepted.length;
  if (!drained) problems.push(`not drained within ${DRAIN_SECONDS} s: ${JSON.stringify(status)}`);
  if ((status?.setAside.count ?? 0) > 0) {
    problems.push(`${status!.setAside.count} rows set aside: ${JSON.stringify(status!.setAside.recent)}`);
  }

  await stack.sandbox("/__sandbox/faults", {});
  const expected = new Map(
    expectedProfiles([...elsewhere, ...accepted]).map((profile) => [profile.user_id, profile]),
  );
  const actual = new Map((await stack.sandbox<Profile[]>("/__sandbox/users")).map((p) => [p.user_id, p]));
  const wrong = [...expected.values()].filter((profile) =>
    !isDeepStrictEqual(profile, actual.get(profile.user_id))
  );
  const extra = [...actual.keys()].filter((id) => !expected.has(id));
  for (const profile of wrong.slice(0, 5)) {
    problems.push(
      `profile ${profile.user_id}: expected ${JSON.stringify(profile)}, got ${
        JSON.stringify(actual.get(profile.user_id))
      }`,
    );
  }
  if (wrong.length > 5) problems.push(`… ${wrong.length - 5} more profiles differ`);
  if (extra.length > 0) {
    problems.push(`${extra.length} profiles nobody sent: ${extra.slice(0, 5).join(", ")}`);
  }

  const stats = await stack.sandbox<{
    statuses: Record<string, number>;
    jobs: { created: number; completed: number; failed: number };
    rows: { received: number };
    faults: Record<string, number>;
  }>("/__sandbox/stats");
  console.log(
    `sandbox: ${
      JSON.stringify({ statuses: stats.statuses, jobs: stats.jobs, rows: stats.rows, faults: stats.faults })
    }`,
  );
  if ((stats.statuses["409"] ?? 0) === 0) problems.push("the job started elsewhere never caused a 409");
  for (const fault of ["rateLimited", "serverErrors", "dropped", "failedJobs"]) {
    if ((stats.faults[fault] ?? 0) === 0) {
      problems.push(`no ${fault} fault was met: the soak did not exercise it`);
    }
  }
  console.log(
    `accepted ${accepted.length} rows for ${
      expected.size - elsewhere.length
    } users (+${elsewhere.length} elsewhere); ` +
      `profiles checked ${expected.size}, differing ${wrong.length}; rows set aside ${
        status?.setAside.count ?? "?"
      }`,
  );
} catch (error) {
  problems.push(`crashed: ${(error as Error).stack ?? error}`);
} finally {
  await stack.stop();
}
if (problems.length > 0) {
  console.log(`FAILED:\n- ${problems.join("\n- ")}`);
  process.exitCode = 1;
} else {
  console.log("OK: every profile equals the merge of what was accepted; no row set aside");
}
