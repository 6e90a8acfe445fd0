import type { BulkKind } from "./build-requests.ts";
import type { BulkLedger, BulkTotals } from "./bulk-ledger.ts";
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
import { FreshLane, JobRows } from "./fresh-lane.ts";
import { SuspectLane } from "./suspect-lane.ts";
import { recordSoloFailure } from "./suspects.ts";
import { JobFailedError, type RowIssue, UserpilotError } from "./errors.ts";
import { SET_BY_USERPILOT, setByUserpilot, setByUserpilotWarning } from "./reserved-properties.ts";
import { sleep } from "./retry.ts";
import type { Job } from "./schemas.ts";
import type { PlannedWindow } from "./windows.ts";

export type { BulkTotals } from "./bulk-ledger.ts";

/** What a bulk call reports while it works. Rows are counted in `totals`; indexes are stream positions. */
export type BulkProgress =
  /** Rows `start` to `start + rows - 1` were read, validated and merged; `rejected` lists their every issue. */
  | { type: "read"; start: number; rows: number; rejected: readonly RowIssue[]; totals: BulkTotals }
  /**
   * Userpilot accepted a job of `rows` rows. Once it completes, every row before `through` is
   * settled (the checkpoint it would move to).
   */
  | { type: "submitted"; job: Job; rows: number; through: number; totals: BulkTotals }
  /** A poll of the running job. */
  | { type: "job"; job: Job; rows: number; totals: BulkTotals }
  /** The job completed: its rows are delivered. */
  | { type: "completed"; job: Job; rows: number; totals: BulkTotals }
  | { type: "retry"; attempt: number; delayMs: number; reason: string }
  | { type: "waiting"; reason: "conflict"; jobId?: string | undefined }
  /** A row Userpilot would not take even alone, repeatedly, while other jobs completed. */
  | { type: "set-aside"; issue: RowIssue; totals: BulkTotals }
  /**
   * Rows are sent, but may not do what they seem: a user property Userpilot sets itself
   * (`first_seen_at`, `last_seen_at`), once per property per call; `index` is the first such row.
   */
  | { type: "warning"; index: number; message: string };

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

/** What a bulk call resolves to. */
export interface DeliveryResult {
  readonly jobs: Job[];
  readonly rejected: RowIssue[];
  readonly issueCount: number;
}

/** A warning for each property Userpilot sets itself that a row of the window carries, once a call. */
function warnSetByUserpilot(
  window: PlannedWindow,
  warned: Set<string>,
  emit: (event: BulkProgress) => void,
): void {
  for (const chunk of window.chunks) {
    for (const [at, row] of chunk.rows.entries()) {
      for (const key of setByUserpilot(row)) {
        if (warned.has(key)) continue;
        warned.add(key);
        emit({ type: "warning", index: chunk.indexes[at]!, message: setByUserpilotWarning(key) });
      }
    }
  }
}

/** `promise`, or the signal's reason as soon as it aborts. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Deliver planned windows of rows by driving the delivery policy (`delivery-policy.ts`) in a loop:
 * one job at a time, each followed to a terminal status, the next window read while a job runs.
 * Fresh rows and suspects from failed jobs take turns. Resolves with the completed jobs and the
 * rows not delivered (rejected, then set aside); throws the last error when a give-up budget runs
 * out (with `completedJobs` filled in), or, once the rows read before it are delivered, what
 * reading the input threw.
 */
export async function deliverRows(
  kind: BulkKind,
  windows: AsyncIterator<PlannedWindow>,
  ledger: BulkLedger,
  requests: SlotRequests,
  options: BulkDeliveryOptions,
): Promise<DeliveryResult> {
  const { config, signal, emit, random } = options;
  const warned = new Set<string>();
  const fresh = new FreshLane(kind, windows, (window) => {
    if (kind === "users" && warned.size < SET_BY_USERPILOT.length) warnSetByUserpilot(window, warned, emit);
    const record = ledger.window(window);
    emit({
      type: "read",
      start: window.start,
      rows: window.rows,
      rejected: window.rejected,
      totals: ledger.totals,
    });
    return record;
  });
  const suspects = new SuspectLane();
  const jobs: Job[] = [];
  const setAside: RowIssue[] = [];
  let state: SlotState = initialSlotState(config);
  let inFlight: { lane: Lane; job: JobRows | undefined } = { lane: "fresh", job: undefined };
  let lastError: unknown;

  const apply = (outcome: Outcome): RowsEffect => {
    const decided = onOutcome(state, outcome, config, { now: Date.now(), random });
    state = decided.state;
    settleRows(decided.rows);
    return decided.rows;
  };
  const settleRows = (effect: RowsEffect): void => {
    const { lane, job } = inFlight;
    if (effect.type === "keep" || job === undefined) return;
    inFlight = { lane, job: undefined };
    ledger.running = 0;
    if (effect.type === "settle") {
      ledger.completed(job);
      emit({ type: "completed", job: jobs.at(-1)!, rows: job.count, totals: ledger.totals });
    } else if (effect.type === "release") {
      if (lane === "fresh") fresh.giveBack(job);
      else suspects.add(job.rows, true);
    } else if (effect.type === "suspect") {
      for (const pending of job.rows) pending.limit = Math.min(pending.limit, effect.limit);
      suspects.add(job.rows);
    } else {
      const pending = job.rows[0]!;
      const weighed = recordSoloFailure(pending.solo, state.completions, config.setAsideAfter);
      if (weighed.setAside) {
        const issue = { index: pending.index, path: "", message: effect.reason };
        setAside.push(issue);
        ledger.setAside(pending);
        emit({ type: "set-aside", issue, totals: ledger.totals });
      } else {
        pending.solo = weighed.record;
        pending.limit = 1;
        suspects.add([pending]);
      }
    }
  };

  try {
    for (;;) {
      signal?.throwIfAborted();
      // Read on while a job runs (or the slot backs off), never just before a submission.
      if (state.job !== null || !fresh.ready) fresh.prefetch();
      const now = Date.now();
      const action = nextAction(state, { fresh: fresh.ready, suspect: suspects.size > 0 }, config, now);
      if (action.type === "idle") {
        if (fresh.exhausted) {
          // Rows read before the input failed are delivered first; then the caller hears why.
          fresh.check();
          return {
            jobs,
            rejected: [...ledger.issues, ...setAside],
            issueCount: ledger.issueCount + setAside.length,
          };
        }
        await unlessAborted(fresh.fill(), signal);
        continue;
      }
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
        const rows = inFlight.job?.count ?? 0;
        const done = job["completed_rows"];
        if (typeof done === "number" && done >= 0) ledger.running = Math.min(rows, done);
        emit({ type: "job", job, rows, totals: ledger.totals });
        if (job.status === "completed") jobs.push(job);
        const effect = apply({ type: "polled", job });
        if (effect.type !== "keep" && effect.type !== "settle") {
          // Failed, or still running past its allowance.
          lastError = job.status === "failed"
            ? new JobFailedError(job)
            : new UserpilotError(state.lastError?.message ?? `job ${job.job_id} did not complete`);
        }
      } else {
        let taken = action.lane === "fresh"
          ? fresh.take(action.maxRows)
          : suspects.take(action.maxRows, options.maxBytes, kind);
        if (action.lane === "fresh" && suspects.size > 0) {
          // A fresh row must not overtake an older, still undelivered row with its id.
          const { kept, joined } = suspects.absorb(taken.rows);
          if (joined.length > 0) {
            ledger.joined(joined);
            taken = JobRows.of(kind, kept);
          }
        }
        if (taken.count === 0) continue;
        inFlight = { lane: action.lane, job: taken };
        state = beginJob(state, action.lane, taken.count, now);
        const through = ledger.through(taken);
        let job: Job;
        try {
          job = await requests.submit(kind, taken.body, signal);
        } catch (error) {
          lastError = error;
          apply(outcomeOf(error, "submit"));
          continue;
        }
        ledger.submitted(taken);
        emit({ type: "submitted", job, rows: taken.count, through, totals: ledger.totals });
        if (job.status === "completed") jobs.push(job);
        const effect = apply({ type: "submitted", job });
        if (effect.type !== "keep" && effect.type !== "settle") lastError = new JobFailedError(job);
      }
    }
  } catch (error) {
    if (error instanceof UserpilotError) error.completedJobs = jobs;
    throw error;
  } finally {
    // Let a generator (a cursor, a file) close what it holds; a read under way finishes first.
    windows.return?.().catch(() => {});
  }
}
