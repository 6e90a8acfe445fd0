import type { PollProgress } from "./poll.ts";
import type { Job } from "./schemas.ts";

/**
 * The delivery policy's vocabulary (`delivery-policy.ts` holds its decisions): what a driver
 * configures, what the policy remembers between steps, what a driver reports, and what it is told
 * to do next. Everything here is plain JSON, so a driver can store it.
 */

/** Which rows a job draws from: fresh rows, or suspects from failed jobs. */
export type Lane = "fresh" | "suspect";

/** When a driver stops trying (the Durable Object never does: every budget is `Infinity`). */
export interface GiveUpBudget {
  /** Requests in a row that got no usable answer (408, 429, 5xx, network error, timeout). */
  readonly requests: number;
  /** Jobs in a row that did not complete (failed, refused, stuck, forgotten), with none completed between. */
  readonly jobs: number;
  /** How long 409s may go on, in ms. */
  readonly conflictMs: number;
  /** Answers in a row that no retry can change (401, 403, other 4xx, a 2xx without a job). */
  readonly unexpected: number;
}

/** The settings the policy decides with. */
export interface DeliveryPolicyConfig {
  /** Most rows in one job (Userpilot's 10,000). */
  readonly maxRows: number;
  /** How often a running job is polled (sooner just after its projected end). */
  readonly pollIntervalMs: number;
  /** Userpilot's processing rate, for how long a job may run before it counts as stuck. */
  readonly rowsPerMinute: number;
  /** First backoff step. */
  readonly baseDelayMs: number;
  /** Longest backoff, `Retry-After` included. */
  readonly maxDelayMs: number;
  /** Counted solo failures before a row is set aside. */
  readonly setAsideAfter: number;
  readonly giveUp: GiveUpBudget;
}

/** Solo failures before a row is set aside, when nothing else says otherwise. */
export const DEFAULT_SET_ASIDE_AFTER: number = 4;

/** A job's shortest allowance before it counts as stuck. */
export const MIN_JOB_ALLOWANCE_MS: number = 15 * 60_000;

/** Budgets that never run out: deliver for as long as it takes. */
export const NEVER_GIVE_UP: GiveUpBudget = Object.freeze({
  requests: Number.POSITIVE_INFINITY,
  jobs: Number.POSITIVE_INFINITY,
  conflictMs: Number.POSITIVE_INFINITY,
  unexpected: Number.POSITIVE_INFINITY,
});

/** The job in Userpilot's slot: submitted (no id yet) or running. */
export interface JobInFlight {
  readonly lane: Lane;
  readonly rows: number;
  readonly submittedAt: number;
  /** `null` until Userpilot answers the submission. */
  readonly jobId: string | null;
  /** When to poll next. */
  readonly pollAt: number;
  /** `completed_rows` at the previous poll, for projecting the job's end. */
  readonly progress: PollProgress | null;
  /** The latest job object Userpilot returned. */
  readonly lastSeen: Job | null;
}

/** Everything the policy remembers between steps (plain JSON, so a driver can store it). */
export interface SlotState {
  readonly job: JobInFlight | null;
  /** No submission before this time (a backoff). */
  readonly notBefore: number;
  /** Failures since the last completed job: the backoff's exponent. */
  readonly streak: number;
  readonly requestFailures: number;
  readonly jobFailures: number;
  readonly unexpected: number;
  /** When the current run of 409s began. */
  readonly conflictSince: number | null;
  /** Most rows in a fresh-lane job (halved by 413). */
  readonly freshLimit: number;
  /** Jobs completed so far: the evidence a solo failure is weighed against. */
  readonly completions: number;
  readonly lastLane: Lane | null;
  readonly lastError: { readonly message: string; readonly at: number } | null;
}

/** What a driver saw when it did what the policy asked. */
export type Outcome =
  | { readonly type: "submitted"; readonly job: Job }
  | { readonly type: "polled"; readonly job: Job }
  /** 409: another job holds the slot. */
  | { readonly type: "conflict"; readonly message: string }
  /** 413 on submission. */
  | { readonly type: "too-large"; readonly message: string }
  /** 400 or 422 on submission: Userpilot will not take these rows. */
  | { readonly type: "refused"; readonly message: string }
  /** 408, 429, 5xx, network error, timeout. */
  | { readonly type: "transient"; readonly message: string; readonly retryAfterMs?: number | undefined }
  /** 404 while polling: Userpilot no longer knows the job. */
  | { readonly type: "job-gone"; readonly message: string }
  /** Anything no retry can change by itself (401, 403, other 4xx, a 2xx that is not a job). */
  | { readonly type: "unexpected"; readonly message: string }
  /** The driver restarted with a submission whose answer it never heard. */
  | { readonly type: "lost" };

/** What becomes of the rows of the job an outcome was about. */
export type RowsEffect =
  /** Still in flight. */
  | { readonly type: "keep" }
  /** Delivered: settle exactly what the job carried. */
  | { readonly type: "settle" }
  /** Not delivered and nothing learned: back to their lane as they were. */
  | { readonly type: "release" }
  /** Failed together: each may travel only in jobs of at most `limit` rows from now on. */
  | { readonly type: "suspect"; readonly limit: number }
  /** The job's one row failed alone: weigh it with {@link recordSoloFailure}. */
  | { readonly type: "failed-alone"; readonly reason: string };

/** The next thing a driver should do. */
export type Action =
  | { readonly type: "poll"; readonly at: number }
  /** Submit rows of `lane`: fresh rows up to `maxRows`, or suspects as {@link suspectBatchSize} allows. */
  | { readonly type: "submit"; readonly lane: Lane; readonly maxRows: number }
  | { readonly type: "wait"; readonly until: number; readonly reason: string }
  | { readonly type: "idle" }
  /** A give-up budget ran out: stop, and report the last error. */
  | { readonly type: "give-up"; readonly reason: string };

/** What a driver passes with every call: the time, and a source of jitter in [0, 1). */
export interface PolicyContext {
  readonly now: number;
  readonly random: () => number;
}

/** A fresh slot. */
export function initialSlotState(config: Pick<DeliveryPolicyConfig, "maxRows">): SlotState {
  return {
    job: null,
    notBefore: 0,
    streak: 0,
    requestFailures: 0,
    jobFailures: 0,
    unexpected: 0,
    conflictSince: null,
    freshLimit: config.maxRows,
    completions: 0,
    lastLane: null,
    lastError: null,
  };
}
