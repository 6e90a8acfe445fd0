/**
 * The driver of Userpilot's bulk-job slot: asks the core's delivery policy what to do, does it
 * (one HTTP request), and applies the policy's decision to the stored job. Decides nothing itself.
 * @module
 */
import { type BulkKind, planChunks } from "../../core/build-requests.ts";
import type { Connection } from "../../core/connection.ts";
import { outcomeOf } from "../../core/delivery-outcome.ts";
import {
  beginJob,
  type DeliveryPolicyConfig,
  initialSlotState,
  type Lane,
  nextAction,
  onOutcome,
  onStepError,
  type Outcome,
  type PolicyContext,
} from "../../core/delivery-policy.ts";
import type { Company, Job, User } from "../../core/schemas.ts";
import { suspectBatchSize } from "../../core/suspects.ts";
import type { Log } from "../log.ts";
import type { Candidate, DeliveryStore, StoredSlot } from "../store/index.ts";
import { leaveOutUnchanged } from "./delta-plan.ts";

/** Most delivery steps in one alarm (a completed job and the next submission are two). */
const MAX_STEPS_PER_ALARM = 8;

/**
 * One bulk job at a time (at most 10,000 rows), polled to a terminal status, what it carried
 * settled; failures back off and retry for as long as it takes. All state is in the store, so a
 * restart at any point resumes where it stopped. Time and randomness come from `context`.
 */
export class JobSlotDriver {
  readonly #store: DeliveryStore;
  readonly #context: () => PolicyContext;
  readonly #log: Log;

  constructor(store: DeliveryStore, context: () => PolicyContext, log: Log) {
    this.#store = store;
    this.#context = context;
    this.#log = log;
  }

  /** The slot as last saved, or a fresh one. */
  slot(config: DeliveryPolicyConfig): StoredSlot {
    return this.#store.job.slot(() => initialSlotState(config));
  }

  /**
   * Poll, settle, submit, until there is nothing to do now. Returns when to step again
   * (`undefined`: idle until rows arrive).
   */
  async step(
    config: DeliveryPolicyConfig,
    userpilot: Connection,
    resendAfterMs: number,
  ): Promise<number | undefined> {
    let slot = this.slot(config);
    if (slot.state.job !== null && slot.state.job.jobId === null) {
      // The object stopped between recording a submission and hearing Userpilot's answer.
      slot = this.#apply(slot, { type: "lost" }, config);
    }
    for (let step = 0; step < MAX_STEPS_PER_ALARM; step++) {
      const now = this.#context().now;
      const action = nextAction(slot.state, this.#store.lanes.ready(), config, now);
      switch (action.type) {
        case "idle":
          return undefined;
        case "wait":
          return action.until;
        case "give-up": // never: the object's budgets are infinite
          return now + config.maxDelayMs;
        case "poll": {
          if (action.at > now) return action.at;
          slot = this.#apply(slot, await this.#poll(userpilot, slot.state.job!.jobId!), config);
          break;
        }
        case "submit":
          slot = await this.#submit(userpilot, slot, action.lane, action.maxRows, config, resendAfterMs);
          break;
      }
    }
    return this.#context().now;
  }

  /**
   * A step of the driver failed (it threw, or the settings cannot be used): record it where the
   * status shows it, and back off. Returns when to step again.
   */
  stepFailed(message: string, config: DeliveryPolicyConfig): number {
    const slot = this.slot(config);
    const state = onStepError(slot.state, message, config, this.#context());
    this.#store.job.saveSlot({ ...slot, state });
    return state.job?.jobId ? state.job.pollAt : state.notBefore;
  }

  /** Choose the lane's next rows, record them as in flight, and submit them. */
  async #submit(
    userpilot: Connection,
    slot: StoredSlot,
    lane: Lane,
    maxRows: number,
    config: DeliveryPolicyConfig,
    resendAfterMs: number,
  ): Promise<StoredSlot> {
    const now = this.#context().now;
    const planned = this.#plan(lane, maxRows, now, resendAfterMs);
    if (planned === undefined) return slot; // every candidate was set aside; look again
    const state = beginJob(slot.state, lane, planned.chosen.length, now);
    this.#store.job.begin(planned.kind, planned.chosen, state);
    let outcome: Outcome;
    try {
      const job = await userpilot.submitJob(planned.kind, planned.rows);
      this.#log("info", "job_submitted", {
        jobId: job.job_id,
        kind: planned.kind,
        lane,
        rows: planned.rows.length,
      });
      outcome = { type: "submitted", job };
    } catch (error) {
      outcome = outcomeOf(error, "submit");
    }
    return this.#apply({ kind: planned.kind, state }, outcome, config);
  }

  async #poll(userpilot: Connection, jobId: string): Promise<Outcome> {
    let job: Job;
    try {
      job = await userpilot.getJob(jobId);
    } catch (error) {
      return outcomeOf(error, "poll");
    }
    return { type: "polled", job };
  }

  /** Fold an outcome into the slot through the policy, and apply its effect on the job's rows. */
  #apply(slot: StoredSlot, outcome: Outcome, config: DeliveryPolicyConfig): StoredSlot {
    const job = slot.state.job;
    const context = this.#context();
    const decided = onOutcome(slot.state, outcome, config, context);
    const next = { kind: slot.kind, state: decided.state };
    // The policy counts jobs that end without completing (`jobFailures`, a streak): so do the metrics, for ever.
    const failed = decided.state.jobFailures > slot.state.jobFailures;
    const count = this.#store.job.apply(decided.rows, next, config.setAsideAfter, context.now, failed);
    const details = {
      jobId: job?.jobId ?? (outcome.type === "submitted" ? outcome.job.job_id : null),
      kind: slot.kind,
      lane: job?.lane,
      rows: job?.rows,
    };
    const failure = decided.state.lastError;
    if (decided.rows.type === "settle") this.#log("info", "job_completed", { ...details, settled: count });
    else if (failure !== null && failure !== slot.state.lastError) {
      this.#log("warn", "delivery_failure", {
        ...details,
        message: failure.message,
        effect: decided.rows.type,
        streak: decided.state.streak,
        ...(decided.rows.type === "failed-alone" ? { setAside: count > 0 } : {}),
      });
    }
    return decided.rows.type === "keep" ? next : { kind: null, state: next.state };
  }

  /**
   * The next job's rows from a lane, recorded nowhere yet. Rows that can never be sent as they are
   * (invalid under the current limits) are set aside on the way, so they never block the rest.
   */
  #plan(
    lane: Lane,
    maxRows: number,
    now: number,
    resendAfterMs: number,
  ): { kind: BulkKind; chosen: Candidate[]; rows: (User | Company)[] } | undefined {
    const next = this.#store.lanes.candidates(lane, maxRows);
    if (next === undefined) return undefined;
    const { kind } = next;
    const sized = lane === "suspect"
      ? next.candidates.slice(0, suspectBatchSize(next.candidates.map((c) => c.limit), maxRows))
      : next.candidates;
    // What Userpilot already has stays out (settled as delivered): only what changed goes.
    const candidates = leaveOutUnchanged(this.#store, kind, sized, now, resendAfterMs);
    if (candidates.length === 0) return undefined;
    // Every rejected row is named (and set aside), not just the first hundred.
    const { chunks, rejected } = planChunks(candidates.map((c) => c.row), {
      kind,
      coalesce: false,
      maxIssues: Number.POSITIVE_INFINITY,
    });
    if (rejected.length > 0) {
      const reasons = new Map(rejected.map((issue) => [issue.index, `${issue.path}: ${issue.message}`]));
      for (const [index, reason] of reasons) {
        this.#store.job.reject(
          kind,
          [candidates[index]!],
          `invalid under the current limits: ${reason}`,
          now,
        );
      }
      this.#log("warn", "rows_set_aside", {
        kind,
        rows: reasons.size,
        reason: "invalid under the current limits",
      });
    }
    // Only the first body's rows go now; the rest stay pending for the next job.
    const first = chunks[0];
    if (first === undefined) return undefined;
    return { kind, chosen: first.indexes.map((index) => candidates[index]!), rows: first.rows };
  }
}
