/**
 * Benchmark 5, drain efficiency: with the sandbox processing at an accelerated 60,000 rows/min
 * (50× Userpilot's 1,200), the rows per minute actually achieved over a multi-job backlog, divided
 * by that rate: (a) the Durable Object through the local stack (`wrangler dev`), (b) the client in
 * process. Time constants that model Userpilot's pace are scaled by the same 50× (POLL_INTERVAL_MS
 * 5,000 → 100 ms); the sandbox's 200 ms queue delay per job is not scaled, which only costs us.
 *
 *   node --import tsx bench/drain.bench.ts
 *
 * With BENCH_DRAIN_PROFILE=<file.cpuprofile>, the Worker is CPU-profiled through its inspector
 * while it drains, the profile is written to that file (open it in Chrome DevTools) and the
 * busiest functions are printed.
 */
import { writeFileSync } from "node:fs";
import { UserpilotClient } from "../mod.ts";
import { createSandbox, SANDBOX_API_KEY } from "../src/sandbox/mod.ts";
import { emit, sleep } from "./measure.ts";
import { realisticRows } from "./rows.ts";
import { type CpuProfile, profileWorker, topFunctions } from "./inspector.ts";
import { DEV_ADMIN_KEY, DEV_INGEST_KEY, startBenchStack } from "./stack.ts";

const RATE = Number(process.env["BENCH_DRAIN_RATE"] ?? 60_000);
const JOBS = Number(process.env["BENCH_DRAIN_JOBS"] ?? 2);
const ROWS = JOBS * 10_000;
const SCALE = RATE / 1200;
const POLL_MS = Math.round(5000 / SCALE);
const PROFILE = process.env["BENCH_DRAIN_PROFILE"];

type Job = {
  job_id: string;
  total_rows: number;
  start_time: string;
  end_time: string | null;
  status: string;
};
type Status = { pending: { users: number; companies: number }; job: unknown; rowsReceived: number };

/** (a) The Durable Object: the backlog arrives through the Worker and its Queue. */
async function durableObject(): Promise<
  { efficiency: number; jobs: number; rowsPerMinute: number; spans: string[]; turnaround: string[] }
> {
  // The Durable Object's own log lines, timed as they arrive: where its turnaround goes.
  const events: { at: number; event: string }[] = [];
  const stack = await startBenchStack({
    inspect: PROFILE !== undefined,
    vars: { POLL_INTERVAL_MS: String(POLL_MS), ROWS_PER_MINUTE: String(RATE) },
    sandbox: { rowsPerMinute: RATE },
    onLine: (line) => {
      const match = /"event":"(job_submitted|job_completed)"/.exec(line);
      if (match) events.push({ at: Date.now(), event: match[1]! });
    },
  });
  try {
    const headers = { Authorization: `Bearer ${DEV_INGEST_KEY}`, "Content-Type": "application/json" };
    const rows = realisticRows(ROWS, ROWS, 11);
    const profiler = stack.inspectorPort === undefined ? undefined : await profileWorker(stack.inspectorPort);
    for (let start = 0; start < ROWS; start += 10_000) {
      const response = await fetch(`${stack.workerUrl}/v1/users/bulk_identify`, {
        method: "POST",
        headers,
        body: JSON.stringify({ users: rows.slice(start, start + 10_000) }),
      });
      if (response.status !== 202) {
        throw new Error(`bulk POST answered ${response.status}: ${await response.text()}`);
      }
    }
    // Watch the sandbox (in this process) and the object's logs, not GET /v1/status: the object
    // answers status on the same thread that delivers, and polling it would slow the drain.
    const deadline = Date.now() + (ROWS / RATE) * 60_000 * 3 + 60_000;
    let drainedAt = 0;
    while (Date.now() < deadline) {
      const stats = await stack.sandbox<{ rows: { applied: number }; jobs: { created: number } }>(
        "/__sandbox/stats",
      );
      const completed = events.filter((e) => e.event === "job_completed");
      if (stats.rows.applied >= ROWS && completed.length >= stats.jobs.created) {
        const status = (await (await fetch(`${stack.workerUrl}/v1/status`, {
          headers: { Authorization: `Bearer ${DEV_ADMIN_KEY}` },
        })).json()) as Status;
        if (status.rowsReceived >= ROWS && status.pending.users === 0 && status.job === null) {
          drainedAt = completed.at(-1)!.at;
          break;
        }
      }
      await sleep(POLL_MS / 2);
    }
    if (drainedAt === 0) throw new Error("the Durable Object did not drain in time");
    if (profiler !== undefined) {
      const profile: CpuProfile = await profiler.stop();
      writeFileSync(PROFILE!, JSON.stringify(profile));
      console.log(`Worker CPU profile while draining (self time, idle excluded) written to ${PROFILE}:`);
      for (const [percent, name] of topFunctions(profile, 15)) {
        console.log(`  ${percent.toFixed(1).padStart(5)} %  ${name}`);
      }
    }
    const listed = (await listJobs(stack.sandboxUrl)).sort((a, b) =>
      a.start_time.localeCompare(b.start_time)
    );
    const firstSubmit = Date.parse(listed[0]!.start_time);
    const rowsSent = listed.reduce((n, job) => n + job.total_rows, 0);
    const rowsPerMinute = rowsSent / ((drainedAt - firstSubmit) / 60_000);
    // Where the time went: each job in the sandbox (its queue delay included), and the gaps the
    // Durable Object left between a job's end and the next submission (or the backlog's end).
    const spans = listed.map((job, i) => {
      const end = Date.parse(job.end_time ?? job.start_time);
      const next = i + 1 < listed.length ? Date.parse(listed[i + 1]!.start_time) : drainedAt;
      return `${job.total_rows} rows ${end - Date.parse(job.start_time)} ms, then ${next - end} ms`;
    });
    // From a job's end in the sandbox to the object logging it completed (poll wait + settling
    // its rows in SQLite), and from there to the next submission logged (choosing, recording and
    // POSTing the next rows).
    const completedLogs = events.filter((e) => e.event === "job_completed").map((e) => e.at);
    const submittedLogs = events.filter((e) => e.event === "job_submitted").map((e) => e.at);
    const turnaround = listed.slice(0, -1).map((job, i) => {
      const end = Date.parse(job.end_time ?? job.start_time);
      return `${(completedLogs[i] ?? Number.NaN) - end} ms to notice and settle, ${
        (submittedLogs[i + 1] ?? Number.NaN) - (completedLogs[i] ?? Number.NaN)
      } ms to plan and submit the next`;
    });
    return { efficiency: rowsPerMinute / RATE, jobs: listed.length, rowsPerMinute, spans, turnaround };
  } finally {
    await stack.stop();
  }
}

async function listJobs(sandboxUrl: string): Promise<Job[]> {
  const response = await fetch(`${sandboxUrl}/v1/background_jobs`, {
    headers: { Authorization: `Token ${SANDBOX_API_KEY}` },
  });
  return (await response.json()) as Job[];
}

/** (b) The client in process, against the sandbox in memory. */
async function client(): Promise<{ efficiency: number; jobs: number; rowsPerMinute: number }> {
  const sandbox = createSandbox({ rowsPerMinute: RATE });
  const userpilot = new UserpilotClient({
    apiKey: SANDBOX_API_KEY,
    baseUrl: "http://sandbox.localhost",
    fetch: async (request) => await sandbox.fetch(request),
    pollIntervalMs: POLL_MS,
  });
  const rows = realisticRows(ROWS, ROWS, 13);
  const started = Date.now();
  const { jobs } = await userpilot.bulkIdentifyUsers(rows);
  const rowsPerMinute = ROWS / ((Date.now() - started) / 60_000);
  return { efficiency: rowsPerMinute / RATE, jobs: jobs.length, rowsPerMinute };
}

const viaObject = await durableObject();
const viaClient = await client();
emit({
  id: "5",
  name: `Drain efficiency: ${ROWS.toLocaleString("en-US")} rows, sandbox at ${
    RATE.toLocaleString("en-US")
  } rows/min, polls every ${POLL_MS} ms`,
  figures: [
    {
      label: "Durable Object (wrangler dev), first job submitted → last job settled",
      value: `${
        Math.round(viaObject.rowsPerMinute).toLocaleString("en-US")
      } rows/min in ${viaObject.jobs} jobs = ${viaObject.efficiency.toFixed(3)}`,
    },
    {
      label: "Durable Object jobs (time in the sandbox, then the gap to the next step)",
      value: viaObject.spans.join("; "),
    },
    {
      label: "Durable Object turnaround between jobs (from its logs)",
      value: viaObject.turnaround.join("; "),
    },
    {
      label: "client in process, call → resolved",
      value: `${
        Math.round(viaClient.rowsPerMinute).toLocaleString("en-US")
      } rows/min in ${viaClient.jobs} jobs = ${viaClient.efficiency.toFixed(3)}`,
    },
  ],
  target: "≥ 0.95 of the sandbox's rate, both",
  met: viaObject.efficiency >= 0.95 && viaClient.efficiency >= 0.95,
});
