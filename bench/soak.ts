/**
 * `npm run soak`: a bounded fault soak through the local stack. The sandbox (Userpilot) injects
 * 429 (with Retry-After), 5xx, dropped connections and failed jobs, each at 20%, and a bulk job
 * started elsewhere holds Userpilot's single job slot at the start (so the Durable Object meets
 * 409s). Then an outage: for SOAK_OUTAGE_SECONDS (default 90; with the soak's 1 s backoff cap
 * that stands for an hour and a half at Userpilot's 60 s cap) every job fails and half the calls answer
 * 5xx, while traffic goes on; then the 20% faults again. Identify calls (bearer and signed) and
 * bulk bodies go in through `wrangler dev`, every fourth identify call followed by a track call
 * of the same user (SOAK_TRACK_EVERY). After the backlog drains, every profile in the sandbox
 * must equal the merge of everything accepted, with no row set aside, and every accepted event
 * must have reached Userpilot after its user existed, each user's in the order accepted. Exits
 * non-zero on any mismatch, lost row or event, row set aside, ingestion error or timeout. Only
 * 127.0.0.1; bounded in calls (SOAK_CALLS, default 2,000) and time (SOAK_SECONDS to send,
 * default 60; SOAK_DRAIN_SECONDS to drain, default 240), paced over about 20 s (SOAK_PACE_MS) so
 * the Durable Object runs many jobs.
 * The sandbox's fault dice are seeded (SOAK_SEED, printed), so a failing run replays.
 * Alerts are on (SOAK_ALERTS=0 turns them off), posted to a local receiver that verifies their
 * signatures, with the backlog threshold at SOAK_ALERT_BACKLOG_MINUTES (default 0.5: the outage
 * passes it), so delivery runs beside them: the soak fails if an alert does not verify, if a row
 * set aside goes unalerted (none should be), or if a condition raised is not resolved after the
 * drain.
 *
 *   node --import tsx bench/soak.ts
 */
import { isDeepStrictEqual } from "node:util";
import { signPayload } from "../mod.ts";
import { SANDBOX_API_KEY } from "../src/sandbox/mod.ts";
import { sleep } from "./measure.ts";
import { DEV_ADMIN_KEY, DEV_INGEST_KEY, DEV_SIGNING_SECRET, startBenchStack } from "./stack.ts";
import type { AlertReceiver } from "../scripts/alert-receiver.ts";
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
const OUTAGE_SECONDS = Number(process.env["SOAK_OUTAGE_SECONDS"] ?? 90);
// A track call follows every TRACK_EVERY-th identify call of each lane. With 20% of calls
// answering 429 (Retry-After 1 s) and a 429 pausing the whole stream, as Userpilot's rate limit
// asks, events go at a few a second here: 500 of them keep the drain within a couple of minutes.
const TRACK_EVERY = Number(process.env["SOAK_TRACK_EVERY"] ?? 4);
// A multiple of LANES, so user k always belongs to lane k mod LANES.
const OWNED_USERS = USERS - (USERS % LANES);
const FAULTS = { rate429: 0.2, retryAfterSeconds: 1, rate5xx: 0.2, dropRate: 0.2, jobFailureRate: 0.2 };
const OUTAGE = { rate5xx: 0.5, jobFailureRate: 1 };
const ALERTS = process.env["SOAK_ALERTS"] !== "0";
const ALERT_BACKLOG_MINUTES = process.env["SOAK_ALERT_BACKLOG_MINUTES"] ?? "0.5";

type Row = { user_id: string; company_id?: string; metadata?: Record<string, string | number | null> };
type Profile = { user_id: string; company_id?: string; metadata: Record<string, unknown> };
type Event = { user_id: string; event_name: string; metadata: { seq: number } };
type Status = {
  pending: { users: number; companies: number; events: number; deletions: number };
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
  // Events go at 30,000 a minute (Userpilot allows 600): the soak is about faults, not pacing.
  vars: {
    POLL_INTERVAL_MS: "50",
    BACKOFF_BASE_MS: "50",
    BACKOFF_MAX_MS: "1000",
    TRACK_PER_MINUTE: "30000",
    ALERT_BACKLOG_AGE_MINUTES: ALERT_BACKLOG_MINUTES,
  },
  ...(ALERTS ? { alerts: {} } : {}),
  sandbox: { rowsPerMinute: 600_000, queueMs: 5, seed: SEED },
  // SOAK_VERBOSE=1 prints the Worker's log lines (its delivery decisions) as they come.
  verbose: process.env["SOAK_VERBOSE"] === "1",
});
const problems: string[] = [];
try {
  const bearer = { Authorization: `Bearer ${DEV_INGEST_KEY}`, "Content-Type": "application/json" };
  const accepted: Row[] = [];
  const events: Event[] = [];
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
  await stack.sandbox("/__sandbox/config", { rowsPerMinute: 600_000, realtimeLimit: 60_000 });
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
      const tracked: Event[] = [];
      for (let i = lane; i < CALLS && Date.now() < stopAt; i += LANES) {
        next++;
        const user = i % OWNED_USERS; // i ≡ lane (mod LANES), and so is its user: lanes never share one
        const row = update(i, `user_${user}`);
        if ((await send("/v1/identify", JSON.stringify(row), i % 2 === 1)) === 202) mine.push(row);
        if (Math.floor(i / LANES) % TRACK_EVERY === 0) {
          const event = { user_id: row.user_id, event_name: "soak_step", metadata: { seq: i } };
          if ((await send("/v1/track", JSON.stringify(event), i % 2 === 0)) === 202) tracked.push(event);
        }
        await sleep(PACE_MS);
      }
      events.push(...tracked);
      return mine;
    }),
  );
  // Lanes own disjoint users, so concatenating them keeps each user's order.
  for (const mine of lanes) accepted.push(...mine);
  await outage;
  await bulk(2_000_000);
  console.log(
    `sent ${next} identify calls, ${events.length} accepted track calls and 2 bulk bodies; ingestion statuses ${
      JSON.stringify(Object.fromEntries(ingestStatuses))
    }`,
  );
  const rejectedAtIngest = [...ingestStatuses].filter(([status]) => status !== 202).reduce(
    (n, [, c]) => n + c,
    0,
  );
  if (rejectedAtIngest > 0) problems.push(`${rejectedAtIngest} ingestion calls were not accepted`);

  const isDrained = (status: Status) =>
    status.rowsReceived >= accepted.length && status.pending.users === 0 && status.job === null &&
    status.pending.events === 0;
  const deadline = Date.now() + DRAIN_SECONDS * 1000;
  let status: Status | undefined;
  while (Date.now() < deadline) {
    status = (await (await fetch(`${stack.workerUrl}/v1/status`, {
      headers: { Authorization: `Bearer ${DEV_ADMIN_KEY}` },
    })).json()) as Status;
    if (isDrained(status)) break;
    await sleep(250);
  }
  const drained = status !== undefined && isDrained(status);
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

  if (stack.alerts !== undefined) problems.push(...(await checkAlerts(stack.alerts)));

  problems.push(
    ...checkEvents(events, await stack.sandbox<(Event & { known: boolean })[]>("/__sandbox/events")),
  );

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
      }; events accepted ${events.length}`,
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
  console.log(
    "OK: every profile equals the merge of what was accepted; no row set aside; every event arrived, in order, after its user",
  );
}

/**
 * Alerts came signed (each verified by the receiver with the `standardwebhooks` package), and
 * every condition raised during the soak is resolved once it drained (waited for, up to 60 s: the
 * last delivery step posts it in the background).
 */
async function checkAlerts(receiver: AlertReceiver): Promise<string[]> {
  const open = () => {
    const raised = new Set<string>();
    for (const alert of receiver.alerts) {
      if (alert.state === "resolved") raised.delete(alert.type);
      else raised.add(alert.type);
    }
    return [...raised];
  };
  const deadline = Date.now() + 60_000;
  while (open().length > 0 && Date.now() < deadline) await sleep(250);
  const counts = new Map<string, number>();
  for (const alert of receiver.alerts) {
    const key = `${alert.type} ${alert.state}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  console.log(`alerts: ${receiver.alerts.length} received ${JSON.stringify(Object.fromEntries(counts))}`);
  const problems: string[] = [];
  if (receiver.refused > 0) problems.push(`${receiver.refused} alerts failed signature verification`);
  if (open().length > 0) problems.push(`alerts never resolved after the drain: ${open().join(", ")}`);
  if (receiver.alerts.some((alert) => alert.type === "set_aside")) {
    problems.push("a set_aside alert, yet nothing should be");
  }
  return problems;
}

/**
 * Every accepted event reached Userpilot, after its user existed, and each user's events arrived
 * in the order accepted (counting each event's first arrival). Userpilot's track has no
 * idempotency key, so a call whose answer was lost (a dropped connection) is sent again: repeats
 * are counted and printed, not a failure.
 */
function checkEvents(accepted: Event[], arrived: (Event & { known: boolean })[]): string[] {
  const problems: string[] = [];
  const key = (event: Event) => `${event.user_id}#${event.metadata.seq}`;
  const seen = new Set<string>();
  const order = new Map<string, number[]>();
  let repeats = 0;
  for (const event of arrived) {
    if (!event.known) problems.push(`event ${key(event)} reached Userpilot before its user existed`);
    if (seen.has(key(event))) {
      repeats++;
      continue;
    }
    seen.add(key(event));
    order.set(event.user_id, [...(order.get(event.user_id) ?? []), event.metadata.seq]);
  }
  const missing = accepted.filter((event) => !seen.has(key(event)));
  if (missing.length > 0) {
    problems.push(
      `${missing.length} accepted events never arrived: ${missing.slice(0, 5).map(key).join(", ")}`,
    );
  }
  const expectedOrder = new Map<string, number[]>();
  for (const event of accepted) {
    expectedOrder.set(event.user_id, [...(expectedOrder.get(event.user_id) ?? []), event.metadata.seq]);
  }
  const outOfOrder = [...expectedOrder].filter(([user, seqs]) =>
    !isDeepStrictEqual(order.get(user)?.filter((seq) => seqs.includes(seq)), seqs)
  );
  for (const [user, seqs] of outOfOrder.slice(0, 3)) {
    problems.push(
      `${user}'s events arrived as ${JSON.stringify(order.get(user))}, accepted as ${JSON.stringify(seqs)}`,
    );
  }
  console.log(
    `events: ${accepted.length} accepted, ${arrived.length} arrivals, ${repeats} repeated (answer lost, sent again), ` +
      `${missing.length} missing, ${outOfOrder.length} users out of order`,
  );
  return problems.slice(0, 10);
}
