import {
  type BulkIdentifyOptions,
  type BulkKind,
  type BulkProgress,
  type CompanyInput,
  HTTPError,
  JobFailedError,
  planWindows,
  type UserInput,
  type UserpilotClient,
} from "../../mod.ts";
import type { InFlightJob, ResumeFile } from "./resume.ts";
import { rest, take } from "./rows.ts";
import type { Session } from "./session.ts";

/** What a direct run works with. */
export interface DirectOptions {
  readonly client: UserpilotClient;
  readonly kind: BulkKind;
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly pollIntervalMs: number;
  readonly signal: AbortSignal;
  readonly resume: ResumeFile | undefined;
}

/**
 * Send the whole input to Userpilot in one streaming call of the core's client, which reads it a
 * window at a time, sends one job at a time (retrying, waiting out 409s, splitting on 413,
 * cornering poison rows) and reads the next window while a job runs. Keeps the counters, the
 * report (rows set aside included, by line) and the `--resume` file up to date. On a rerun, rows
 * before the saved checkpoint are read and checked for the report but neither sent nor recorded
 * as delivered by `--state` (this run cannot tell which of them Userpilot set aside), and the job that
 * was running when the last run stopped is followed rather than sent again.
 *
 * @example
 * ```ts
 * await deliverDirect(session, { client, kind: "users", maxRows: 10_000, ... });
 * ```
 */
export async function deliverDirect(session: Session, options: DirectOptions): Promise<void> {
  const { client, kind, resume, signal, maxRows, maxBytes } = options;
  const { counters, progress, stream } = session;
  // A source read in id order (PostgreSQL) goes on after an id, and counts its rows from there.
  const keyed = stream.keyed;
  let skip = keyed === undefined ? resume?.checkpoint ?? 0 : 0;
  let from = resume?.after;
  let followed: InFlightJob | undefined;
  if (resume?.inFlight !== undefined) {
    if (await finishedEarlier(session, resume.inFlight, options)) {
      followed = resume.inFlight;
      if (keyed === undefined) skip = followed.through;
      else from = followed.after ?? from;
    }
    resume.reached(skip, true, from);
  }
  keyed?.startAt(from);
  stream.settledEarlier(skip);
  /** Every row before stream index `at` is settled: saved as a row count, or for a keyed source as an id. */
  const reached = (at: number, settled: boolean): void =>
    keyed === undefined ? resume?.reached(at, settled) : resume?.reached(0, settled, stream.position(at));
  const rows = stream.rows();
  if (keyed !== undefined && followed !== undefined) {
    counters.rowsSubmitted += followed.rows;
    counters.rowsProcessed += followed.rows;
    counters.jobs++;
  }
  if (skip > 0) {
    // Settled by earlier runs: read and checked again for the report, not sent.
    const windows = planWindows(take(rows, skip), {
      kind,
      maxRows,
      maxBytes,
      maxIssues: Number.POSITIVE_INFINITY,
    });
    for await (const window of windows) session.window(window, 0);
    const followedRows = followed?.rows ?? 0;
    counters.rowsSkipped = counters.rowsPlanned - followedRows;
    counters.rowsSubmitted += followedRows;
    counters.rowsProcessed += followedRows;
    if (followed !== undefined) counters.jobs++;
  }
  session.begin();
  let checkpoint = skip;
  const onProgress = (event: BulkProgress): void => {
    if ("totals" in event) {
      session.totals(event.totals);
      checkpoint = skip + event.totals.checkpoint;
    }
    switch (event.type) {
      case "read":
        session.rejected(event.rejected, skip);
        progress.update("read", counters);
        break;
      case "submitted":
        // Saved before anything else happens: a run killed from here on follows this job on resume.
        resume?.submitted(
          keyed === undefined
            ? { jobId: event.job.job_id, through: skip + event.through, rows: event.rows }
            : {
              jobId: event.job.job_id,
              through: 0,
              rows: event.rows,
              after: stream.position(event.through),
            },
        );
        progress.update("submitted", counters, event.job.job_id);
        break;
      case "job":
        progress.update("processing", counters, event.job.job_id);
        break;
      case "completed":
        reached(checkpoint, true);
        progress.update("completed", counters, event.job.job_id);
        break;
      case "set-aside":
        session.setAside(event.issue, skip);
        reached(checkpoint, false);
        break;
      case "retry":
        progress.note(`retrying in ${Math.round(event.delayMs)} ms: ${event.reason}`);
        break;
      case "warning":
        break; // the reader's own note (rows.ts) names the line
      case "waiting":
        progress.note(
          `another bulk job${event.jobId === undefined ? "" : ` (${event.jobId})`} holds Userpilot's ` +
            "single job slot; waiting for it",
        );
    }
  };
  const call: BulkIdentifyOptions = {
    maxRows,
    maxBytes,
    pollIntervalMs: options.pollIntervalMs,
    signal,
    onProgress,
  };
  // Rows read from a file are whatever the file holds: the core checks each one at run time.
  const input = rest(rows);
  if (kind === "users") await client.bulkIdentifyUsers(input as AsyncIterable<UserInput>, call);
  else await client.bulkIdentifyCompanies(input as AsyncIterable<CompanyInput>, call);
  reached(checkpoint, true);
}

/**
 * The last run stopped while this job was running. Follow it: if it completed, its rows are
 * settled and nothing is sent again; if it failed or is unknown, its rows are sent again.
 */
async function finishedEarlier(
  session: Session,
  inFlight: InFlightJob,
  options: DirectOptions,
): Promise<boolean> {
  const { client, signal, pollIntervalMs } = options;
  const { progress, counters } = session;
  progress.note(`resuming: following job ${inFlight.jobId}, which was running when the last run stopped`);
  try {
    await client.waitForJob(inFlight.jobId, {
      pollIntervalMs,
      signal,
      onProgress: (job) => {
        const done = job["completed_rows"];
        counters.rowsProcessed = typeof done === "number" && done >= 0 ? Math.min(inFlight.rows, done) : 0;
        progress.update("processing", counters, job.job_id);
      },
    });
  } catch (error) {
    if (error instanceof JobFailedError) {
      progress.note(`job ${inFlight.jobId} failed; sending its rows again`);
    } else if (error instanceof HTTPError && error.status === 404) {
      progress.note(`Userpilot no longer knows job ${inFlight.jobId}; sending its rows again`);
    } else {
      throw error;
    }
    counters.rowsProcessed = 0;
    return false;
  }
  counters.rowsProcessed = 0; // counted with the rows it settled
  return true;
}
