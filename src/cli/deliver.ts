import {
  type BulkKind,
  type BulkProgress,
  type Chunk,
  HTTPError,
  type Job,
  JobFailedError,
  type RowIssue,
  type UserpilotClient,
} from "../../mod.ts";
import type { Counters, Progress } from "./progress.ts";
import type { InFlightJob, ResumeFile } from "./resume.ts";

/** What {@link ChunkSender} works with. */
export interface ChunkSenderOptions {
  readonly client: UserpilotClient;
  readonly kind: BulkKind;
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly pollIntervalMs: number;
  readonly signal: AbortSignal;
  readonly counters: Counters;
  readonly progress: Progress;
  readonly resume: ResumeFile | undefined;
}

const completedRows = (job: Job): number => {
  const value = job["completed_rows"];
  return typeof value === "number" && value >= 0 ? value : 0;
};

/**
 * Sends planned chunks one at a time through the core's `UserpilotClient` (which retries, waits
 * out 409s, splits on 413 and resubmits failed jobs), keeps the counters and the `--resume` file
 * up to date, and on a rerun follows the job that was running when the last run stopped instead
 * of sending its rows again.
 *
 * @example
 * ```ts
 * const sender = new ChunkSender({ client, kind: "users", ... });
 * for (const [number, chunk] of chunks.entries()) await sender.send(number, chunk);
 * ```
 */
export class ChunkSender {
  readonly #options: ChunkSenderOptions;

  constructor(options: ChunkSenderOptions) {
    this.#options = options;
  }

  /**
   * Deliver chunk `number` (counted over the whole input) and wait for its job to complete.
   * Resolves with the rows Userpilot would not take even alone (set aside; `index` is the row's
   * place in `chunk.rows`): they were not delivered, and must be reported.
   */
  async send(number: number, chunk: Chunk): Promise<RowIssue[]> {
    const { client, kind, counters, progress, resume, signal } = this.#options;
    signal.throwIfAborted();
    const base = counters.rowsProcessed;
    const inFlight = resume?.inFlight;
    if (inFlight?.chunk === number && (await this.#finishedEarlier(inFlight, chunk, base))) {
      this.#completed(number, chunk, base, 1, inFlight.jobId);
      return [];
    }
    let accepted = false;
    const onProgress = (event: BulkProgress): void => {
      if (event.type === "submitted") {
        // Saved before anything else happens: a run killed from here on follows this job on resume.
        resume?.submitted({ chunk: number, jobId: event.job.job_id, rows: event.rows });
        if (!accepted) counters.rowsSubmitted += chunk.rows.length;
        accepted = true;
        progress.update("submitted", counters, event.job.job_id);
      } else if (event.type === "job") {
        counters.rowsProcessed = base + Math.min(chunk.rows.length, completedRows(event.job));
        progress.update("processing", counters, event.job.job_id);
      } else if (event.type === "retry") {
        progress.note(`retrying in ${Math.round(event.delayMs)} ms: ${event.reason}`);
      } else if (event.type === "waiting") {
        progress.note(
          `another bulk job${event.jobId === undefined ? "" : ` (${event.jobId})`} holds Userpilot's ` +
            "single job slot; waiting for it",
        );
      }
    };
    const options = {
      maxRows: this.#options.maxRows,
      maxBytes: this.#options.maxBytes,
      // The chunk is already validated and merged; strict makes any surprise fail loudly, unsent.
      strict: true,
      signal,
      pollIntervalMs: this.#options.pollIntervalMs,
      onProgress,
    };
    const { jobs, rejected } = kind === "users"
      ? await client.bulkIdentifyUsers(chunk.rows, options)
      : await client.bulkIdentifyCompanies(chunk.rows, options);
    this.#completed(number, chunk, base, jobs.length, jobs.at(-1)?.job_id);
    return rejected;
  }

  #completed(number: number, chunk: Chunk, base: number, jobs: number, jobId: string | undefined): void {
    const { counters, progress, resume } = this.#options;
    counters.rowsProcessed = base + chunk.rows.length;
    counters.jobs += jobs;
    resume?.completed(number, chunk.rows.length);
    progress.update("completed", counters, jobId);
  }

  /**
   * The last run stopped while this chunk's job was running. Follow that job: if it completed,
   * the chunk is done and nothing is sent again; if it failed or is unknown, send the chunk.
   */
  async #finishedEarlier(inFlight: InFlightJob, chunk: Chunk, base: number): Promise<boolean> {
    const { client, counters, progress, signal, pollIntervalMs } = this.#options;
    // A 413 split the chunk: that job holds only part of it, so the chunk is sent whole again.
    if (inFlight.rows !== chunk.rows.length) return false;
    progress.note(`resuming: following job ${inFlight.jobId}, which was running when the last run stopped`);
    try {
      await client.waitForJob(inFlight.jobId, {
        pollIntervalMs,
        signal,
        onProgress: (job) => {
          counters.rowsProcessed = base + Math.min(chunk.rows.length, completedRows(job));
          progress.update("processing", counters, job.job_id);
        },
      });
    } catch (error) {
      if (error instanceof JobFailedError) {
        progress.note(`job ${inFlight.jobId} failed; sending its rows again`);
        return false;
      }
      if (error instanceof HTTPError && error.status === 404) {
        progress.note(`Userpilot no longer knows job ${inFlight.jobId}; sending its rows again`);
        return false;
      }
      throw error;
    }
    counters.rowsSubmitted += chunk.rows.length;
    return true;
  }
}
