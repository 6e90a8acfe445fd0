import { DurableObject } from "cloudflare:workers";
import type { BulkKind } from "../core/build-requests.ts";
import { planChunks } from "../core/build-requests.ts";
import { Connection } from "../core/connection.ts";
import { DEFAULT_TRACK_PER_MINUTE } from "../core/limits.ts";
import { UserpilotRealtime } from "../core/realtime-client.ts";
import { describeFailure, outcomeOf } from "../core/delivery-outcome.ts";
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
} from "../core/delivery-policy.ts";
import type { Company, Job, User } from "../core/schemas.ts";
import { suspectBatchSize } from "../core/suspects.ts";
import type { Env } from "./env.ts";
import { log } from "./log.ts";
import type { QueueMessageBody } from "./messages.ts";
import { type DeliveryStatus, describeStatus, observe } from "./delivery-status.ts";
import { leaveOutUnchanged } from "./delta-plan.ts";
import { type Candidate, PendingStore, type StoredSlot } from "./pending-store.ts";
import { minuteOf, type Sample } from "./samples.ts";
import type { SetAsideRow, SetAsideSelection } from "./set-aside-store.ts";
import { RealtimeDelivery } from "./realtime-delivery.ts";
import {
  deliveryConfig,
  readSettings,
  realtimeConfig,
  type Settings,
  type SettingsResult,
} from "./settings.ts";

/** Settled rows are kept this long, so a late redelivery of an older message cannot undo a newer value. */
const SETTLED_RETENTION_MS = 60 * 60 * 1000;

/** How often settled rows past their retention are purged. */
const PURGE_EVERY_MS = 60_000;

/** Most delivery steps in one alarm (a completed job and the next submission are two). */
const MAX_STEPS_PER_ALARM = 8;

/**
 * Rows set aside (a redrive or purge), or profiles' fingerprints (a forget, the prune of unseen
 * ones each minute), that one transaction handles: bounded work, whatever the table's size.
 */
const BATCH = 1_000;

export type { DeliveryStatus } from "./delivery-status.ts";

/** Everything the operator's page shows, read at one moment. */
export interface DeliveryOverview {
  status: DeliveryStatus;
  /** The last 24 hours, a sample a minute at most; the current minute is observed live. */
  history: Sample[];
  /** A page of rows set aside, values included. */
  setAside: { rows: SetAsideRow[]; next: number | null };
}

/**
 * One per Userpilot environment: the single writer that knows whether a job is in flight. It
 * merges accepted rows into SQLite, and its alarm drives the core's delivery policy
 * (`src/core/delivery-policy.ts`): one job at a time (at most 10,000 rows), polled to a terminal
 * status, what it carried settled; failures back off and retry for as long as it takes. All state
 * is in SQLite, so a restart at any point resumes where it stopped.
 */
export class DeliveryObject extends DurableObject<Env> {
  readonly #store: PendingStore;
  #settings: SettingsResult | undefined;
  #userpilot: Connection | undefined;
  #userpilotRealtime: UserpilotRealtime | undefined;
  #lastPurge = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new PendingStore(ctx.storage);
  }

  /**
   * Merge Queue messages into the backlog and make sure the alarm will run. Each message is its
   * own transaction, with a pause between them for anything else waiting (a status call), so a
   * large batch never holds the object for long.
   */
  async enqueue(messages: readonly QueueMessageBody[]): Promise<number> {
    const now = Date.now();
    let rows = 0;
    let events = 0;
    let setAside = 0;
    for (const [index, message] of messages.entries()) {
      if (index > 0) await new Promise((resolve) => setTimeout(resolve, 0));
      if (message.kind === "events") {
        const deletions = this.#store.deletions;
        events += this.#store.transaction(() =>
          this.#store.events.add(
            message.events,
            message.receivedAt,
            (userId) => deletions.latest("users", userId),
          )
        );
      } else {
        setAside += this.#store.merge(message.kind, message.rows, message.receivedAt, now);
        rows += message.rows.length;
      }
    }
    this.#store.count("rows_received", rows);
    this.#store.count("events_received", events);
    this.#store.samples.record(now, () => observe(this.#store, this.#slot()));
    if (setAside > 0) log("warn", "rows_set_aside", { rows: setAside, reason: "too large to store" });
    await this.#wake(now);
    return rows + events;
  }

  /**
   * Deletions accepted at `deletedAt` (the request path calls this directly, so they act at once):
   * every pending value and event of those ids accepted before is dropped, and what comes after is
   * held until the delete is forwarded to Userpilot. Returns how many were new.
   */
  async deleteIds(target: BulkKind, ids: readonly string[], deletedAt: number): Promise<number> {
    const recorded = this.#store.deleteIds(target, ids, deletedAt);
    if (recorded > 0) log("info", "deletions_accepted", { kind: target, ids: recorded });
    await this.#wake(Date.now());
    return recorded;
  }

  /** The backlog, the job in flight, the last error, rows set aside and the time to drain. */
  status(): DeliveryStatus {
    const settings = this.#readSettings();
    const rowsPerMinute = settings.ok
      ? settings.settings.rowsPerMinute
      : deliveryConfig(undefined).rowsPerMinute;
    return describeStatus(this.#store, this.#slot(), this.#realtime(undefined).pacers(), {
      rowsPerMinute,
      trackPerMinute: settings.ok ? settings.settings.trackPerMinute : DEFAULT_TRACK_PER_MINUTE,
      now: Date.now(),
    });
  }

  /** The status, the last 24 hours and a page of rows set aside, for the operator's page. */
  overview(options: { after?: number; limit: number }): DeliveryOverview {
    const now = Date.now();
    const live = { minute: minuteOf(now), ...observe(this.#store, this.#slot()) };
    const history = this.#store.samples.list(now).filter((sample) => sample.minute < live.minute);
    return { status: this.status(), history: [...history, live], setAside: this.listSetAside(options) };
  }

  /** A page of the rows set aside, values included (for operators). */
  listSetAside(options: { after?: number; limit: number; kind?: BulkKind | undefined }): {
    rows: SetAsideRow[];
    next: number | null;
  } {
    return this.#store.setAside.list(options);
  }

  /** Put selected rows set aside back into the backlog (sent alone, weighed afresh). Returns how many. */
  async redrive(selection: SetAsideSelection): Promise<number> {
    const total = await this.#inBatches(() => this.#store.setAside.redrive(selection, BATCH));
    if (total > 0) await this.#wake(Date.now());
    return total;
  }

  /** Delete selected rows set aside for good. Returns how many. */
  purgeSetAside(selection: SetAsideSelection): Promise<number> {
    return this.#inBatches(() => this.#store.setAside.purge(selection, BATCH));
  }

  /**
   * Forget the fingerprints of some profiles, or of all (a batch at a time), so what comes next is
   * sent whole. Returns how many profiles had fingerprints.
   */
  async forgetFingerprints(
    selection: { all: true } | { kind: BulkKind; ids: readonly string[] },
  ): Promise<number> {
    const fingerprints = this.#store.fingerprints;
    return "all" in selection
      ? await this.#inBatches(() => fingerprints.forgetUnseen(1e16, BATCH))
      : this.#store.transaction(() => fingerprints.forget(selection.kind, selection.ids));
  }

  /** Repeat `batch` (one transaction each, up to `BATCH` rows) until it does less; pause between. */
  async #inBatches(batch: () => number): Promise<number> {
    let total = 0;
    for (;;) {
      const done = this.ctx.storage.transactionSync(batch);
      total += done;
      if (done < BATCH) return total;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  /** Delivery steps until there is nothing to do now; then the alarm is set for the next one. */
  override async alarm(): Promise<void> {
    const read = this.#readSettings();
    const settings = read.ok ? read.settings : undefined;
    const config = deliveryConfig(settings);
    let next: number | undefined;
    try {
      if (!read.ok) throw new Error(`settings: ${read.problems.join("; ")}`);
      next = await this.#deliver(read.settings, config);
    } catch (error) {
      // Any step that throws is recorded where the status shows it, and retried with backoff.
      const message = describeFailure(error);
      if (read.ok) log("error", "delivery_step_crashed", { message });
      else this.#settings = undefined; // read again next time, in case the fix needs no new instance
      const slot = this.#slot(config);
      const state = onStepError(slot.state, message, config, this.#context());
      this.#store.saveSlot({ ...slot, state });
      next = state.job?.jobId ? state.job.pollAt : state.notBefore;
    }
    // Going idle (nothing scheduled) settles this minute's sample, so the chart shows the rest.
    this.#store.samples.record(
      Date.now(),
      () => observe(this.#store, this.#slot(config)),
      next === undefined,
    );
    // A whole millisecond after now, always: an alarm set back to the very millisecond of the one
    // running (a jittered time can round to it) is taken as unchanged and dropped when the
    // handler returns, and delivery would stall until the next enqueue.
    if (next !== undefined) await this.ctx.storage.setAlarm(Math.max(Math.ceil(next), Date.now() + 1));
  }

  async #deliver(settings: Settings, config: DeliveryPolicyConfig): Promise<number | undefined> {
    const now = Date.now();
    // The purge scans settled rows: once a minute is plenty for a one-hour retention.
    if (now - this.#lastPurge > PURGE_EVERY_MS) {
      this.#store.purge(now - SETTLED_RETENTION_MS);
      this.#store.fingerprints.forgetUnseen(now - settings.forgetAfterMs, BATCH);
      this.#lastPurge = now;
    }
    const realtime = realtimeConfig(settings);
    // Deletes first: the rows and events of a deleted id wait for them.
    const forwarder = this.#realtime(settings);
    const deletesFirst = await forwarder.forwardDeletions(realtime, () => this.#context());
    const jobsNext = await this.#deliverJobs(settings, config);
    // A delete held back for the job in flight (it carries the ids) may go once that job is done.
    const deletesNext = deletesFirst ?? await forwarder.forwardDeletions(realtime, () => this.#context());
    const eventsNext = await forwarder.forwardEvents(realtime, () => this.#context());
    const times = [deletesNext, jobsNext, eventsNext].filter((at): at is number => at !== undefined);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  /** The job slot's steps: poll, settle, submit; returns when to step again (none: idle). */
  async #deliverJobs(settings: Settings, config: DeliveryPolicyConfig): Promise<number | undefined> {
    let slot = this.#slot(config);
    if (slot.state.job !== null && slot.state.job.jobId === null) {
      // The object stopped between recording a submission and hearing Userpilot's answer.
      slot = this.#apply(slot, { type: "lost" }, config);
    }
    for (let step = 0; step < MAX_STEPS_PER_ALARM; step++) {
      const action = nextAction(slot.state, this.#store.lanes.ready(), config, Date.now());
      switch (action.type) {
        case "idle":
          return undefined;
        case "wait":
          return action.until;
        case "give-up": // never: the object's budgets are infinite
          return Date.now() + config.maxDelayMs;
        case "poll": {
          if (action.at > Date.now()) return action.at;
          slot = this.#apply(slot, await this.#poll(settings, slot.state.job!.jobId!), config);
          break;
        }
        case "submit":
          slot = await this.#submit(settings, slot, action.lane, action.maxRows, config);
          break;
      }
    }
    return Date.now();
  }

  /** Choose the lane's next rows, record them as in flight, and submit them. */
  async #submit(
    settings: Settings,
    slot: StoredSlot,
    lane: Lane,
    maxRows: number,
    config: DeliveryPolicyConfig,
  ): Promise<StoredSlot> {
    const now = Date.now();
    const planned = this.#plan(lane, maxRows, now, settings.resendAfterMs);
    if (planned === undefined) return slot; // every candidate was set aside; look again
    const state = beginJob(slot.state, lane, planned.chosen.length, now);
    this.#store.begin(planned.kind, planned.chosen, state);
    let outcome: Outcome;
    try {
      const job = await this.#client(settings).submitJob(planned.kind, planned.rows);
      log("info", "job_submitted", {
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

  async #poll(settings: Settings, jobId: string): Promise<Outcome> {
    let job: Job;
    try {
      job = await this.#client(settings).getJob(jobId);
    } catch (error) {
      return outcomeOf(error, "poll");
    }
    return { type: "polled", job };
  }

  /** Fold an outcome into the slot through the policy, and apply its effect on the job's rows. */
  #apply(slot: StoredSlot, outcome: Outcome, config: DeliveryPolicyConfig): StoredSlot {
    const job = slot.state.job;
    const decided = onOutcome(slot.state, outcome, config, this.#context());
    const next = { kind: slot.kind, state: decided.state };
    const now = Date.now();
    const count = this.#store.apply(decided.rows, next, config.setAsideAfter, now);
    const details = {
      jobId: job?.jobId ?? (outcome.type === "submitted" ? outcome.job.job_id : null),
      kind: slot.kind,
      lane: job?.lane,
      rows: job?.rows,
    };
    const failure = decided.state.lastError;
    if (decided.rows.type === "settle") log("info", "job_completed", { ...details, settled: count });
    else if (failure !== null && failure !== slot.state.lastError) {
      log("warn", "delivery_failure", {
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
        this.#store.reject(kind, [candidates[index]!], `invalid under the current limits: ${reason}`, now);
      }
      log("warn", "rows_set_aside", { kind, rows: reasons.size, reason: "invalid under the current limits" });
    }
    // Only the first body's rows go now; the rest stay pending for the next job.
    const first = chunks[0];
    if (first === undefined) return undefined;
    return { kind, chosen: first.indexes.map((index) => candidates[index]!), rows: first.rows };
  }

  #slot(config: DeliveryPolicyConfig = deliveryConfig(undefined)): StoredSlot {
    return this.#store.slot(() => initialSlotState(config));
  }

  #context(): PolicyContext {
    return { now: Date.now(), random: Math.random };
  }

  #readSettings(): SettingsResult {
    // Settings only change with a deploy, which starts new instances: read them once.
    return this.#settings ??= readSettings(this.env);
  }

  #client(settings: Settings): Connection {
    const binding = this.env.USERPILOT;
    return this.#userpilot ??= new Connection({
      apiKey: settings.userpilotApiKey,
      baseUrl: settings.baseUrl,
      fetch: binding ? (request) => binding.fetch(request) : undefined,
      timeoutMs: 30_000,
      // Every wait belongs to the policy and the alarm, which survives restarts.
      retry: { maxAttempts: 1 },
    });
  }

  #realtime(settings: Settings | undefined): RealtimeDelivery {
    return new RealtimeDelivery(this.#store, () => {
      if (settings === undefined) throw new Error("settings are needed to reach Userpilot");
      const binding = this.env.USERPILOT;
      return this.#userpilotRealtime ??= new UserpilotRealtime({
        apiKey: settings.userpilotApiKey,
        baseUrl: settings.baseUrl,
        fetch: binding ? (request) => binding.fetch(request) : undefined,
        // Every wait belongs to the pacer and the alarm, which survives restarts.
        retry: { maxAttempts: 1 },
      });
    });
  }

  async #wake(now: number): Promise<void> {
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null) await this.ctx.storage.setAlarm(now);
  }
}
