import type { BulkKind, Chunk } from "./build-requests.ts";
import { outcomeOf } from "./delivery-outcome.ts";
import {
  beginJob,
  type DeliveryPolicyConfig,
  initialSlotState,
  type Lane,
  nextAction,
  onOutcome,
  type Outcome,
  type RowsEffect,
  type SlotState,
} from "./delivery-policy.ts";
import { recordSoloFailure, type SoloFailures, suspectBatchSize } from "./suspects.ts";
import { JobFailedError, type RowIssue, UserpilotError } from "./errors.ts";
import { sleep } from "./retry.ts";
import type { Company, Job, User } from "./schemas.ts";
import { utf8Length } from "./utf8.ts";

/** What a bulk call reports while it works. */
export type BulkProgress =
  | { type: "planned"; chunks: number; rows: number; rejected: number }
  /** Job number `chunk` of the call was accepted (`chunks` is how many bodies were planned). */
  | { type: "submitted"; chunk: number; chunks: number; rows: number; job: Job }
  | { type: "job"; chunk: number; chunks: number; job: Job }
  | { type: "chunk-completed"; chunk: number; chunks: number; job: Job; rowsDone: number; rowsTotal: number }
  | { type: "retry"; attempt: number; delayMs: number; reason: string }
  | { type: "waiting"; reason: "conflict"; jobId?: string | undefined }
  /** A row Userpilot would not take even alone, repeatedly, while other jobs completed. */
  | { type: "set-aside"; issue: RowIssue };

/** The two requests a bulk call makes, each a single attempt that throws the core's typed errors. */
export interface SlotRequests {
  submit(kind: BulkKind, body: string, signal: AbortSignal | undefined): Promise<Job>;
  poll(jobId: string, signal: AbortSignal | undefined): Promise<Job>;
}

/** How a bulk call runs: the policy's settings, and where it reports. */
export interface BulkDeliveryOptions {
  readonly config: DeliveryPolicyConfig;
  readonly maxBytes: number;
  readonly random: () => number;
  readonly signal: AbortSignal | undefined;
  readonly emit: (event: BulkProgress) => void;
}

interface PendingRow {
  readonly index: number;
  readonly row: User | Company;
  limit: number;
  solo: SoloFailures | null;
}

/** Rows not yet tried, in input order: whole planned chunks (their bodies reused), or rows handed back. */
class FreshLane {
  readonly #chunks: Chunk[];
  #next = 0;
  #offset = 0;
  readonly #returned: PendingRow[] = [];

  constructor(chunks: readonly Chunk[]) {
    this.#chunks = [...chunks];
  }

  get empty(): boolean {
    return this.#returned.length === 0 && this.#next >= this.#chunks.length;
  }

  /** Up to `maxRows` rows, never across a planned chunk (so never over its byte budget). */
  take(maxRows: number, kind: BulkKind): { rows: PendingRow[]; body: string } {
    if (this.#returned.length > 0) {
      const rows = this.#returned.splice(0, maxRows);
      return { rows, body: bodyOf(kind, rows) };
    }
    const chunk = this.#chunks[this.#next]!;
    const end = Math.min(chunk.rows.length, this.#offset + maxRows);
    const rows: PendingRow[] = [];
    for (let i = this.#offset; i < end; i++) {
      rows.push({
        index: chunk.indexes[i]!,
        row: chunk.rows[i]!,
        limit: Number.POSITIVE_INFINITY,
        solo: null,
      });
    }
    const whole = this.#offset === 0 && end === chunk.rows.length;
    this.#offset = end;
    if (end === chunk.rows.length) {
      this.#next++;
      this.#offset = 0;
    }
    return { rows, body: whole ? chunk.body : bodyOf(kind, rows) };
  }

  /** Hand rows back, to go first again. */
  giveBack(rows: readonly PendingRow[]): void {
    this.#returned.unshift(...rows);
  }
}

const bodyOf = (kind: BulkKind, rows: readonly PendingRow[]): string =>
  `{"${kind}":${JSON.stringify(rows.map((pending) => pending.row))}}`;

/**
 * Deliver planned chunks by driving the delivery policy (`delivery-policy.ts`) in a loop: one job
 * at a time, each followed to a terminal status. Resolves with the completed jobs and the rows set
 * aside; throws the last error when a give-up budget runs out (with `completedJobs` filled in).
 */
export async function deliverChunks(
  kind: BulkKind,
  chunks: readonly Chunk[],
  requests: SlotRequests,
  options: BulkDeliveryOptions,
): Promise<{ jobs: Job[]; setAside: RowIssue[] }> {
  const { config, signal, emit, random } = options;
  const fresh = new FreshLane(chunks);
  const suspects: PendingRow[] = [];
  const jobs: Job[] = [];
  const setAside: RowIssue[] = [];
  const rowsTotal = chunks.reduce((sum, chunk) => sum + chunk.rows.length, 0);
  let rowsDone = 0;
  let submitted = 0;
  let state: SlotState = initialSlotState(config);
  let inFlight: { lane: Lane; rows: PendingRow[] } = { lane: "fresh", rows: [] };
  let lastError: unknown;

  const apply = (outcome: Outcome): RowsEffect => {
    const decided = onOutcome(state, outcome, config, { now: Date.now(), random });
    state = decided.state;
    settleRows(decided.rows);
    return decided.rows;
  };
  const settleRows = (effect: RowsEffect): void => {
    const { lane, rows } = inFlight;
    if (effect.type === "keep") return;
    inFlight = { lane, rows: [] };
    if (effect.type === "settle") {
      const job = jobs.at(-1)!;
      rowsDone += rows.length;
      emit({ type: "chunk-completed", chunk: submitted, chunks: chunks.length, job, rowsDone, rowsTotal });
    } else if (effect.type === "release") {
      if (lane === "fresh") fresh.giveBack(rows);
      else suspects.unshift(...rows);
    } else if (effect.type === "suspect") {
      for (const pending of rows) pending.limit = Math.min(pending.limit, effect.limit);
      suspects.push(...rows);
    } else {
      const pending = rows[0]!;
      const { record, setAside: aside } = recordSoloFailure(
        pending.solo,
        state.completions,
        config.setAsideAfter,
      );
      if (aside) {
        const issue = { index: pending.index, path: "", message: effect.reason };
        setAside.push(issue);
        emit({ type: "set-aside", issue });
      } else {
        pending.solo = record;
        pending.limit = 1;
        suspects.push(pending);
      }
    }
  };

  try {
    for (;;) {
      signal?.throwIfAborted();
      const now = Date.now();
      const action = nextAction(state, { fresh: !fresh.empty, suspect: suspects.length > 0 }, config, now);
      if (action.type === "idle") return { jobs, setAside };
      if (action.type === "give-up") {
        throw lastError ?? new UserpilotError(`gave up: ${action.reason}`);
      }
      if (action.type === "wait") {
        const delayMs = action.until - now;
        if (state.conflictSince !== null) emit({ type: "waiting", reason: "conflict" });
        else emit({ type: "retry", attempt: state.streak, delayMs, reason: action.reason });
        await sleep(delayMs, signal);
      } else if (action.type === "poll") {
        await sleep(Math.max(0, action.at - now), signal);
        const jobId = state.job!.jobId!;
        let job: Job;
        try {
          job = await requests.poll(jobId, signal);
        } catch (error) {
          lastError = error;
          apply(outcomeOf(error, "poll"));
          if (state.job !== null) {
            const delayMs = state.job.pollAt - Date.now();
            emit({ type: "retry", attempt: state.streak, delayMs, reason: state.lastError!.message });
          }
          continue;
        }
        emit({ type: "job", chunk: submitted, chunks: chunks.length, job });
        if (job.status === "completed") jobs.push(job);
        const effect = apply({ type: "polled", job });
        if (effect.type !== "keep" && effect.type !== "settle") {
          // Failed, or still running past its allowance.
          lastError = job.status === "failed"
            ? new JobFailedError(job)
            : new UserpilotError(state.lastError?.message ?? `job ${job.job_id} did not complete`);
        }
      } else {
        const taken = action.lane === "fresh"
          ? fresh.take(action.maxRows, kind)
          : takeSuspects(suspects, action.maxRows, options.maxBytes, kind);
        inFlight = { lane: action.lane, rows: taken.rows };
        state = beginJob(state, action.lane, taken.rows.length, now);
        let job: Job;
        try {
          job = await requests.submit(kind, taken.body, signal);
        } catch (error) {
          lastError = error;
          apply(outcomeOf(error, "submit"));
          continue;
        }
        submitted++;
        emit({ type: "submitted", chunk: submitted, chunks: chunks.length, rows: taken.rows.length, job });
        if (job.status === "completed") jobs.push(job);
        const effect = apply({ type: "submitted", job });
        if (effect.type !== "keep" && effect.type !== "settle") lastError = new JobFailedError(job);
      }
    }
  } catch (error) {
    if (error instanceof UserpilotError) error.completedJobs = jobs;
    throw error;
  }
}

/** The next suspects that may travel together, within the byte budget of one body. */
function takeSuspects(
  suspects: PendingRow[],
  maxRows: number,
  maxBytes: number,
  kind: BulkKind,
): { rows: PendingRow[]; body: string } {
  let count = suspectBatchSize(suspects.map((pending) => pending.limit), maxRows);
  // Suspects from different jobs may together outgrow one body; the first always goes.
  let bytes = kind.length + 6;
  for (let i = 0; i < count; i++) {
    bytes += utf8Length(JSON.stringify(suspects[i]!.row)) + 1;
    if (i > 0 && bytes > maxBytes) {
      count = i;
      break;
    }
  }
  const rows = suspects.splice(0, count);
  return { rows, body: bodyOf(kind, rows) };
}
