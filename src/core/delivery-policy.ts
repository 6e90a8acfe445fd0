import { nextPollDelay, pollProgress } from "./poll.ts";
import { backoffDelay } from "./retry.ts";
import type { Job } from "./schemas.ts";
import { isTerminalStatus } from "./schemas.ts";
import {
  type Action,
  type DeliveryPolicyConfig,
  type GiveUpBudget,
  type JobInFlight,
  type Lane,
  MIN_JOB_ALLOWANCE_MS,
  type Outcome,
  type PolicyContext,
  type RowsEffect,
  type SlotState,
} from "./delivery-state.ts";

export * from "./delivery-state.ts";

/**
 * Every decision about Userpilot's single bulk-job slot, as one pure state machine.
 *
 * Userpilot runs one bulk job at a time and names no bad row, so a driver (`UserpilotClient`'s
 * loop, or the Durable Object's alarm) asks {@link nextAction} what to do, does it (one HTTP
 * request, or a wait), and reports what happened to {@link onOutcome}, which returns the new state
 * and what becomes of the job's rows. Neither driver decides anything itself; this module has no
 * I/O, no clock and no randomness of its own (`now` and `random` come in with every call).
 *
 * The policy, in one place:
 * - **Transient failures never cost a row.** 408, 429, 5xx, network errors, timeouts, 409, poll
 *   errors, jobs Userpilot forgot (404), jobs that end `failed` and jobs still running past their
 *   allowance all back off (exponential, full jitter, `Retry-After` as a floor, capped) and are
 *   retried. A 409 waits at least the poll interval. Only the give-up budgets (`giveUp`, all
 *   infinite for the Durable Object) ever stop trying, and then the caller is told, not the row.
 * - **Rows are never blamed together.** The rows of a failed or refused (400/422) job become
 *   *suspects* that may only travel in jobs of at most half that job's size, so a poison row is
 *   cornered by bisection while the rows beside it go through. Suspects and fresh rows take turns
 *   in Userpilot's slot, so neither lane waits on the other.
 * - **A row is set aside only on evidence.** A row that fails alone counts a failure only if some
 *   other job completed since its last counted one (else Userpilot may simply be down); at
 *   `setAsideAfter` counted failures it is set aside, with its values, for an operator.
 * - **413 splits.** The fresh lane's job size halves (and doubles back after each completed job);
 *   a single row still too large fails alone, like a refused row.
 */

/**
 * What to do next, given which lanes have rows ready.
 *
 * @example
 * ```ts
 * const action = nextAction(state, { fresh: true, suspect: false }, config, Date.now());
 * if (action.type === "submit") state = beginJob(state, action.lane, rows.length, Date.now());
 * ```
 */
export function nextAction(
  state: SlotState,
  backlog: { readonly fresh: boolean; readonly suspect: boolean },
  config: DeliveryPolicyConfig,
  now: number,
): Action {
  const spent = budgetSpent(state, config.giveUp, now);
  if (spent !== undefined) return { type: "give-up", reason: spent };
  if (state.job !== null) return { type: "poll", at: state.job.pollAt };
  if (!backlog.fresh && !backlog.suspect) return { type: "idle" };
  if (now < state.notBefore) {
    return { type: "wait", until: state.notBefore, reason: state.lastError?.message ?? "backing off" };
  }
  // Take turns when both lanes have rows, so neither waits on the other.
  const lane: Lane = !backlog.suspect
    ? "fresh"
    : !backlog.fresh
    ? "suspect"
    : state.lastLane === "fresh"
    ? "suspect"
    : "fresh";
  return { type: "submit", lane, maxRows: lane === "fresh" ? state.freshLimit : config.maxRows };
}

/** Record that `rows` rows of `lane` are being submitted now (before the request goes out). */
export function beginJob(state: SlotState, lane: Lane, rows: number, now: number): SlotState {
  return {
    ...state,
    job: { lane, rows, submittedAt: now, jobId: null, pollAt: now, progress: null, lastSeen: null },
    lastLane: lane,
  };
}

/**
 * Fold what happened into the state: returns the new state and what becomes of the job's rows.
 *
 * @example
 * ```ts
 * const { state: next, rows } = onOutcome(state, { type: "conflict", message }, config, ctx);
 * ```
 */
export function onOutcome(
  state: SlotState,
  outcome: Outcome,
  config: DeliveryPolicyConfig,
  context: PolicyContext,
): { state: SlotState; rows: RowsEffect } {
  const job = state.job;
  if (job === null) return { state, rows: { type: "keep" } };
  const { now } = context;
  switch (outcome.type) {
    case "submitted": {
      const running: SlotState = {
        ...state,
        requestFailures: 0,
        unexpected: 0,
        conflictSince: null,
        job: {
          ...job,
          jobId: outcome.job.job_id,
          pollAt: now + config.pollIntervalMs,
          lastSeen: outcome.job,
        },
      };
      // A job that is already over when accepted is judged at once.
      return isTerminalStatus(outcome.job.status)
        ? onOutcome(running, { type: "polled", job: outcome.job }, config, context)
        : { state: running, rows: { type: "keep" } };
    }
    case "polled":
      return polled({ ...state, requestFailures: 0, unexpected: 0 }, job, outcome.job, config, context);
    case "conflict": {
      const failed = failure(state, outcome.message, now);
      const wait = Math.max(config.pollIntervalMs, delay(failed.streak, config, context));
      return {
        state: { ...failed, job: null, conflictSince: state.conflictSince ?? now, notBefore: now + wait },
        rows: { type: "release" },
      };
    }
    case "too-large":
      if (job.rows > 1) {
        const limit = half(job.rows);
        // Deterministic and always smaller: split at once, no backoff.
        return job.lane === "fresh"
          ? { state: { ...state, job: null, freshLimit: limit }, rows: { type: "release" } }
          : { state: { ...state, job: null }, rows: { type: "suspect", limit } };
      }
      return jobFailed(state, job, outcome.message, "answered 413 to this row alone", config, context);
    case "refused":
      return jobFailed(state, job, outcome.message, "refused this row alone", config, context);
    case "transient":
      return job.jobId === null
        ? backOff(
          { ...failure(state, outcome.message, now), requestFailures: state.requestFailures + 1 },
          config,
          context,
          outcome.retryAfterMs,
        )
        : pollFailed(
          { ...state, requestFailures: state.requestFailures + 1 },
          job,
          outcome.message,
          config,
          context,
          outcome.retryAfterMs,
        );
    case "job-gone":
      return backOff(
        { ...failure(state, outcome.message, now), jobFailures: state.jobFailures + 1 },
        config,
        context,
      );
    case "unexpected":
      return job.jobId === null
        ? backOff(
          { ...failure(state, outcome.message, now), unexpected: state.unexpected + 1 },
          config,
          context,
        )
        : pollFailed({ ...state, unexpected: state.unexpected + 1 }, job, outcome.message, config, context);
    case "lost":
      // Resubmitting is harmless: bulk identify is an upsert, and a job the lost POST did start
      // answers the next one with 409, which is waited out.
      return { state: { ...state, job: null }, rows: { type: "release" } };
  }
}

/**
 * A step of the driver itself failed (it threw, or its settings cannot be used): record it and
 * back off before the next submission, or the next poll of a running job.
 *
 * @example
 * ```ts
 * state = onStepError(state, `settings: ${problems.join("; ")}`, config, { now, random: Math.random });
 * ```
 */
export function onStepError(
  state: SlotState,
  message: string,
  config: DeliveryPolicyConfig,
  context: PolicyContext,
): SlotState {
  const failed = failure(state, message, context.now);
  const until = context.now + delay(failed.streak, config, context);
  return failed.job !== null && failed.job.jobId !== null
    ? { ...failed, job: { ...failed.job, pollAt: until } }
    : { ...failed, notBefore: until };
}

/** A poll answered: completed, failed, still running, or running past its allowance. */
function polled(
  state: SlotState,
  job: JobInFlight,
  seen: Job,
  config: DeliveryPolicyConfig,
  context: PolicyContext,
): { state: SlotState; rows: RowsEffect } {
  const { now } = context;
  if (seen.status === "completed") {
    return {
      state: {
        ...state,
        job: null,
        notBefore: now,
        streak: 0,
        jobFailures: 0,
        completions: state.completions + 1,
        freshLimit: Math.min(config.maxRows, state.freshLimit * 2),
      },
      rows: { type: "settle" },
    };
  }
  if (seen.status === "failed") {
    return jobFailed(state, job, `job ${seen.job_id} failed`, "failed alone", config, context);
  }
  if (now - job.submittedAt > jobAllowanceMs(job.rows, config.rowsPerMinute)) {
    const message =
      `job ${seen.job_id} was still "${seen.status}" after its allowance; submitting its rows again`;
    return jobFailed(state, job, message, "ran past its allowance alone", config, context);
  }
  const pollAt = now + nextPollDelay(config.pollIntervalMs, seen, now, job.progress ?? undefined);
  return {
    state: { ...state, job: { ...job, pollAt, progress: pollProgress(seen, now) ?? null, lastSeen: seen } },
    rows: { type: "keep" },
  };
}

/** A job that will not complete as it is: its rows become suspects, or a lone row fails alone. */
function jobFailed(
  state: SlotState,
  job: JobInFlight,
  message: string,
  alone: string,
  config: DeliveryPolicyConfig,
  context: PolicyContext,
): { state: SlotState; rows: RowsEffect } {
  const failed = { ...failure(state, message, context.now), jobFailures: state.jobFailures + 1 };
  const { state: next } = backOff(failed, config, context);
  return {
    state: next,
    rows: job.rows > 1
      ? { type: "suspect", limit: half(job.rows) }
      : { type: "failed-alone", reason: `Userpilot ${alone}: ${message}` },
  };
}

/** A poll got no usable answer: poll again after a backoff, unless the job is past its allowance. */
function pollFailed(
  state: SlotState,
  job: JobInFlight,
  message: string,
  config: DeliveryPolicyConfig,
  context: PolicyContext,
  retryAfterMs?: number,
): { state: SlotState; rows: RowsEffect } {
  const { now } = context;
  if (now - job.submittedAt > jobAllowanceMs(job.rows, config.rowsPerMinute)) {
    return jobFailed(
      state,
      job,
      `${message}; the job is past its allowance`,
      "could not be followed",
      config,
      context,
    );
  }
  const failed = failure(state, message, now);
  const pollAt = now + delay(failed.streak, config, context, retryAfterMs);
  return { state: { ...failed, job: { ...job, pollAt } }, rows: { type: "keep" } };
}

function backOff(
  state: SlotState,
  config: DeliveryPolicyConfig,
  context: PolicyContext,
  retryAfterMs?: number,
): { state: SlotState; rows: RowsEffect } {
  const notBefore = context.now + delay(state.streak, config, context, retryAfterMs);
  return { state: { ...state, job: null, notBefore }, rows: { type: "release" } };
}

function failure(state: SlotState, message: string, now: number): SlotState {
  return { ...state, streak: state.streak + 1, lastError: { message, at: now } };
}

function delay(
  streak: number,
  config: DeliveryPolicyConfig,
  context: PolicyContext,
  retryAfterMs?: number,
): number {
  return backoffDelay(Math.max(1, streak), config, context.random, retryAfterMs);
}

const half = (rows: number): number => Math.ceil(rows / 2);

function budgetSpent(state: SlotState, budget: GiveUpBudget, now: number): string | undefined {
  if (state.requestFailures >= budget.requests) return `${state.requestFailures} requests in a row failed`;
  if (state.jobFailures >= budget.jobs) return `${state.jobFailures} jobs in a row did not complete`;
  if (state.unexpected >= budget.unexpected) return "Userpilot gave an answer no retry can change";
  if (state.conflictSince !== null && now - state.conflictSince > budget.conflictMs) {
    return "another bulk job held Userpilot's slot for too long";
  }
  return undefined;
}

/** How long a job of `rows` rows may run before it counts as stuck: three times Userpilot's rate, at least 15 minutes. */
export function jobAllowanceMs(rows: number, rowsPerMinute: number): number {
  return Math.max(MIN_JOB_ALLOWANCE_MS, ((rows * 3) / rowsPerMinute) * 60_000);
}
