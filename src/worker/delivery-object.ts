import { DurableObject } from "cloudflare:workers";
import type { BulkKind } from "../core/build-requests.ts";
import { planChunks } from "../core/build-requests.ts";
import { UserpilotClient } from "../core/client.ts";
import { HTTPError, RateLimitError, UserpilotError } from "../core/errors.ts";
import { MAX_ROWS_PER_REQUEST } from "../core/limits.ts";
import { nextPollDelay, type PollProgress, pollProgress } from "../core/poll.ts";
import { backoffDelay, DEFAULT_RETRY_POLICY } from "../core/retry.ts";
import type { Company, User } from "../core/schemas.ts";
import type { Env } from "./env.ts";
import { log } from "./log.ts";
import type { QueueMessageBody } from "./messages.ts";
import { type BacklogStatus, PendingStore } from "./pending-store.ts";
import { readSettings, type Settings, type SettingsResult } from "./settings.ts";

/** Settled rows are kept this long, so a late redelivery of an older message cannot undo a newer value. */
const SETTLED_RETENTION_MS = 60 * 60 * 1000;
/** Single rows refused (400/422) in a row before the refusals count as systemic, not the rows' fault. */
const MAX_REFUSED_IN_A_ROW = 3;

/**
 * A failure as logs and `/v1/status` show it: the status and Userpilot's error code, not its
 * message, which may quote a submitted value.
 */
function describeError(error: unknown): string {
  if (error instanceof HTTPError) {
    const code = error.errors.find((e) => typeof e.error_code === "string")?.error_code;
    const hint = error.status === 401
      ? " (is USERPILOT_API_KEY the server-side API key, not the NX- app token?)"
      : "";
    return `${error.method} ${new URL(error.url).pathname} answered ${error.status}${
      code ? ` (${code})` : ""
    }${hint}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** How often settled rows past their retention are purged. */
const PURGE_EVERY_MS = 60_000;

/** How long to wait before rereading settings that are broken. */
const MISCONFIGURED_RETRY_MS = 60_000;

/** The status route's view: the backlog plus the drain estimate. */
export interface DeliveryStatus extends BacklogStatus {
  /** Rows merged into the backlog since the object was created (before merging by id). */
  rowsReceived: number;
  estimatedDrainSeconds: number;
  rowsPerMinute: number;
}

/**
 * One per Userpilot environment: the single writer that knows whether a job is in flight. It
 * merges accepted rows into SQLite, and its alarm moves the backlog to Userpilot one job at a time
 * (at most 10,000 rows), polls each job to a terminal status, and settles what the job carried.
 * All state is in SQLite, so a restart at any point resumes where it stopped.
 */
export class DeliveryObject extends DurableObject<Env> {
  readonly #store: PendingStore;
  #settings: SettingsResult | undefined;
  #userpilot: UserpilotClient | undefined;
  #lastPurge = 0;
  /** The running job's progress at the previous poll (kept in memory: after a restart, polls start over at the interval). */
  #progress: { jobId: string; at: PollProgress } | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new PendingStore(ctx.storage);
  }

  /** Merge Queue messages into the backlog and make sure the alarm will run. */
  async enqueue(messages: readonly QueueMessageBody[]): Promise<number> {
    const now = Date.now();
    let rows = 0;
    for (const message of messages) {
      this.#store.merge(message.kind, message.rows, message.receivedAt, now);
      rows += message.rows.length;
    }
    this.#store.setMeta("rows_received", String(Number(this.#store.meta("rows_received") ?? "0") + rows));
    await this.#wake(now);
    return rows;
  }

  /** Record messages the Queue gave up on, so they show in `/v1/status` and are kept. */
  deadLetterMessages(messages: readonly QueueMessageBody[], attempts: number): void {
    for (const message of messages) {
      this.#store.addDeadLetters(
        message.kind,
        message.rows,
        "queue delivery failed after retries",
        attempts,
        Date.now(),
      );
    }
  }

  /** The backlog, the job in flight, the last error, dead letters and the time to drain. */
  status(): DeliveryStatus {
    const rowsPerMinute = Number(this.env.ROWS_PER_MINUTE) || 1200;
    const status = this.#store.status();
    const backlog = status.pending.users + status.pending.companies;
    return {
      ...status,
      rowsReceived: Number(this.#store.meta("rows_received") ?? "0"),
      rowsPerMinute,
      estimatedDrainSeconds: Math.ceil((backlog / rowsPerMinute) * 60),
    };
  }

  /** One step of delivery; schedules the next. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    // Settings only change with a deploy, which starts new instances: read them once.
    this.#settings ??= readSettings(this.env);
    const read = this.#settings;
    if (!read.ok) {
      this.#settings = undefined; // reread next time, in case the fix needs no new instance
      this.#recordError(`settings: ${read.problems.join("; ")}`, now);
      await this.ctx.storage.setAlarm(now + MISCONFIGURED_RETRY_MS);
      return;
    }
    // The purge scans settled rows: once a minute is plenty for a one-hour retention.
    if (now - this.#lastPurge > PURGE_EVERY_MS) {
      this.#store.purge(now - SETTLED_RETENTION_MS);
      this.#lastPurge = now;
    }
    const next = await this.#step(read.settings, now);
    if (next !== undefined) await this.ctx.storage.setAlarm(next);
  }

  /** Poll the running job, or submit the next one. Returns when to run again (none: idle). */
  async #step(settings: Settings, now: number): Promise<number | undefined> {
    const client = this.#client(settings);
    const slot = this.#store.slot();
    try {
      if (slot?.phase === "running" && slot.jobId !== null) {
        const job = await client.getJob(slot.jobId);
        const polledAt = Date.now();
        this.#store.recordPoll(job);
        if (job.status === "completed") {
          const settled = this.#store.complete(Date.now());
          this.#succeeded(settings);
          log("info", "job_completed", { jobId: job.job_id, kind: slot.kind, rows: settled });
          // Userpilot's slot is free now: submit the next job in this same step.
          return await this.#submitNext(client, settings, Date.now());
        }
        if (job.status === "failed") {
          const dead = this.#store.fail(`job ${job.job_id} failed`, settings.maxJobAttempts, Date.now());
          log("warn", "job_failed", { jobId: job.job_id, kind: slot.kind, deadLettered: dead });
          return this.#backoff(settings, `job ${job.job_id} failed`, now);
        }
        if (now - slot.submittedAt > this.#maxJobAgeMs(slot.rows, settings)) {
          // Userpilot should have finished long ago (or reports a status we do not know): submit
          // the rows again rather than let one job block the backlog forever.
          this.#store.abandon();
          log("warn", "job_abandoned", { jobId: slot.jobId, kind: slot.kind, status: job.status });
          return this.#backoff(
            settings,
            `job ${slot.jobId} was still "${job.status}" after its time; resubmitting`,
            now,
          );
        }
        // Poll again after the interval, or just after the job's projected end if that is sooner.
        const previous = this.#progress?.jobId === slot.jobId ? this.#progress.at : undefined;
        const delay = nextPollDelay(settings.pollIntervalMs, job, polledAt, previous);
        const progress = pollProgress(job, polledAt);
        this.#progress = progress === undefined ? undefined : { jobId: slot.jobId, at: progress };
        return polledAt + delay;
      }
      // A submission with no answer (the object restarted mid-POST) is simply made again.
      if (slot !== undefined) this.#store.abandon();
      return await this.#submitNext(client, settings, now);
    } catch (error) {
      return this.#failed(error, settings, Date.now());
    }
  }

  /** Plan the next job from the backlog and submit it. Returns when to poll it (none: idle). */
  async #submitNext(client: UserpilotClient, settings: Settings, now: number): Promise<number | undefined> {
    const planned = this.#plan(now);
    if (planned === undefined) return undefined;
    const job = await client.submitJob(planned.kind, planned.rows);
    this.#store.markRunning(job);
    log("info", "job_submitted", { jobId: job.job_id, kind: planned.kind, rows: planned.rows.length });
    return Date.now() + settings.pollIntervalMs;
  }

  /**
   * Choose the next job's rows and record them as in flight. Merged rows can outgrow a limit no
   * single message broke (keys per row, say): those become dead letters rather than block the rest.
   */
  #plan(now: number): { kind: BulkKind; rows: (User | Company)[] } | undefined {
    const maxRows = Number(this.#store.meta("max_rows") ?? MAX_ROWS_PER_REQUEST);
    const next = this.#store.candidates(maxRows);
    if (next === undefined) return undefined;
    const { kind, candidates } = next;
    const { chunks, rejected } = planChunks(candidates.map((c) => c.row), { kind, coalesce: false });
    if (rejected.length > 0) {
      const reasons = new Map(rejected.map((issue) => [issue.index, `${issue.path}: ${issue.message}`]));
      for (const [index, reason] of reasons) {
        this.#store.reject(kind, [candidates[index]!], `invalid after merge: ${reason}`, now);
      }
      log("warn", "merged_rows_invalid", { kind, rows: reasons.size });
    }
    // Only the first body's rows go now; the rest stay pending for the next job.
    const first = chunks[0];
    if (first === undefined) return this.#plan(now);
    const chosen = first.indexes.map((index) => candidates[index]!);
    this.#store.begin(kind, chosen, now);
    return { kind, rows: first.rows };
  }

  /** Decide what a failed step means for the job slot, and when to try again. */
  #failed(error: unknown, settings: Settings, now: number): number {
    const slot = this.#store.slot();
    const message = describeError(error);
    const status = error instanceof HTTPError ? error.status : undefined;
    if (slot?.phase === "running") {
      // The poll failed. A job Userpilot no longer knows is submitted again; otherwise poll later.
      if (status === 404) this.#store.abandon();
    } else if (status === 413) {
      // Too large: halve the job and try again at once.
      this.#store.setMeta("max_rows", String(Math.max(1, Math.floor((slot?.rows ?? 2) / 2))));
      this.#store.abandon();
      this.#recordError(message, now);
      return now;
    } else if ((status === 400 || status === 422) && (slot?.rows ?? 1) > 1) {
      // Userpilot names no bad row: halve the job until the bad rows stand alone.
      this.#store.setMeta("max_rows", String(Math.max(1, Math.floor((slot?.rows ?? 2) / 2))));
      this.#store.abandon();
    } else if (status === 400 || status === 422) {
      // One row refused. A few in a row is that row; many in a row is Userpilot (or a proxy)
      // refusing everything, which must not dead-letter the whole backlog.
      const refused = Number(this.#store.meta("refused_streak") ?? "0") + 1;
      this.#store.setMeta("refused_streak", String(refused));
      if (refused <= MAX_REFUSED_IN_A_ROW) this.#store.fail(message, 1, now);
      else this.#store.abandon();
    } else {
      this.#store.abandon();
    }
    if (!(error instanceof UserpilotError)) log("error", "delivery_step_crashed", { message });
    const retryAfterMs = error instanceof RateLimitError ? error.retryAfterMs : undefined;
    return this.#backoff(settings, message, now, retryAfterMs, status === 409 ? settings.pollIntervalMs : 0);
  }

  /** How long a job may take before it is given up: three times Userpilot's rate, and at least 15 minutes. */
  #maxJobAgeMs(rows: number, settings: Settings): number {
    return Math.max(15 * 60_000, ((rows * 3) / settings.rowsPerMinute) * 60_000);
  }

  /** Wait longer after each consecutive failure (the core's backoff), honouring Retry-After, up to the cap. */
  #backoff(settings: Settings, message: string, now: number, retryAfterMs?: number, floorMs = 0): number {
    const streak = Number(this.#store.meta("error_streak") ?? "0") + 1;
    this.#store.setMeta("error_streak", String(streak));
    this.#recordError(message, now);
    const policy = {
      ...DEFAULT_RETRY_POLICY,
      baseDelayMs: settings.backoffBaseMs,
      maxDelayMs: settings.backoffMaxMs,
    };
    const delay = backoffDelay(streak, policy, Math.random, Math.max(retryAfterMs ?? 0, floorMs));
    log("warn", "delivery_backoff", { message, streak, delayMs: Math.round(delay) });
    return now + delay;
  }

  #succeeded(settings: Settings): void {
    this.#store.setMeta("error_streak", undefined);
    this.#store.setMeta("refused_streak", undefined);
    const maxRows = Number(this.#store.meta("max_rows") ?? MAX_ROWS_PER_REQUEST);
    if (maxRows < MAX_ROWS_PER_REQUEST) {
      this.#store.setMeta("max_rows", String(Math.min(MAX_ROWS_PER_REQUEST, maxRows * 2)));
    }
    void settings;
  }

  #recordError(message: string, now: number): void {
    this.#store.setMeta("last_error", JSON.stringify({ message, at: new Date(now).toISOString() }));
  }

  #client(settings: Settings): UserpilotClient {
    const binding = this.env.USERPILOT;
    return this.#userpilot ??= new UserpilotClient({
      apiKey: settings.userpilotApiKey,
      baseUrl: settings.baseUrl,
      fetch: binding ? (request) => binding.fetch(request) : undefined,
      timeoutMs: 30_000,
      // Every wait belongs to the alarm, which survives restarts and honours Retry-After.
      retry: { maxAttempts: 1 },
    });
  }

  async #wake(now: number): Promise<void> {
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null) await this.ctx.storage.setAlarm(now);
  }
}
