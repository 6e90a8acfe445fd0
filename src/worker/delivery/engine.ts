/**
 * The delivery engine: everything the Durable Object does, as a plain class that is given its
 * storage, clock, randomness, `fetch`, alarm and settings, so it runs the same in workerd and,
 * under a simulator, in Node.
 * @module
 */
import type { BulkKind } from "../../core/build-requests.ts";
import { Connection } from "../../core/connection.ts";
import { describeFailure } from "../../core/errors.ts";
import type { DeliveryPolicyConfig, PolicyContext } from "../../core/delivery-policy.ts";
import { UserpilotRealtime } from "../../core/realtime-client.ts";
import type { FetchFunction } from "../../core/transport.ts";
import type { Log } from "../log.ts";
import { DELETION_RUN_MS } from "../retention.ts";
import type { Settings, SettingsResult, Tuning } from "../settings.ts";
import {
  type AuditEntry,
  type AuditRecord,
  DeliveryStore,
  minuteOf,
  type Sample,
  type SetAsideKind,
  type SetAsideRow,
  type SetAsideSelection,
} from "../store/index.ts";
import type { SqlStorageLike } from "../sql.ts";
import { AlertMonitor } from "./alerts.ts";
import { deliveryConfig, realtimeConfig } from "./config.ts";
import { JobSlotDriver } from "./job-slot.ts";
import { ENGINE_LIMITS, type EngineLimits } from "./limits.ts";
import type { QueueMessageBody } from "../queue-message.ts";
import { RealtimeStreams } from "./realtime.ts";
import { type DeliveryStatus, observe, statusOf } from "./status.ts";

/** The counters of Userpilot's answers, from 2xx to 5xx. */
const ANSWER_CLASSES = ["answers2xx", "answers3xx", "answers4xx", "answers5xx"] as const;

/** Audit entries the operator's page shows. */
const AUDIT_SHOWN = 20;

/** Everything the operator's page shows, read at one moment. */
export interface DeliveryOverview {
  status: DeliveryStatus;
  /** The last 24 hours, a sample a minute at most; the current minute is observed live. */
  history: Sample[];
  /** A page of rows set aside, values included. */
  setAside: { rows: SetAsideRow[]; next: number | null };
  /** The latest audited actions, newest first. */
  audit: AuditEntry[];
}

/** The object's one alarm. */
export interface Alarm {
  get(): Promise<number | null>;
  set(at: number): Promise<void>;
}

/** What the engine reads from the platform, all of it given. */
export interface EngineDeps {
  /** The object's SQLite (`ctx.storage` in workerd). */
  readonly storage: SqlStorageLike;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** A number in [0, 1), for backoff jitter. */
  readonly random: () => number;
  /** How Userpilot is reached (a service binding's, or the global `fetch`). */
  readonly fetch: FetchFunction;
  /** How alerts reach `ALERT_WEBHOOK_URL` (the global `fetch`). */
  readonly alertFetch: FetchFunction;
  /** Keep work running after the call that started it returns (`ctx.waitUntil`): alerts are posted so. */
  readonly background: (work: Promise<unknown>) => void;
  readonly alarm: Alarm;
  /** Read the settings (the engine keeps them, and reads again after a settings failure). */
  readonly settings: () => SettingsResult;
  /** Let anything waiting for the object run, between two transactions of a long action. */
  readonly pause: () => Promise<void>;
  readonly log: Log;
  /** The engine's bounds; production's (`ENGINE_LIMITS`) unless a simulator shrinks them. */
  readonly limits?: EngineLimits | undefined;
}

/**
 * One per Userpilot environment: the single writer that knows whether a job is in flight. It
 * merges accepted rows into SQLite, and its alarm drives the job slot (`JobSlotDriver`) and the
 * real-time streams (`RealtimeStreams`). All state is in SQLite, so a restart at any point
 * resumes where it stopped.
 */
export class DeliveryEngine {
  readonly #deps: EngineDeps;
  readonly #limits: EngineLimits;
  readonly #store: DeliveryStore;
  readonly #jobs: JobSlotDriver;
  readonly #streams: RealtimeStreams;
  readonly #alerts: AlertMonitor;
  #settings: SettingsResult | undefined;
  #clients: { settings: Settings; bulk: Connection; realtime: UserpilotRealtime } | undefined;
  #lastPurge = 0;

  constructor(deps: EngineDeps) {
    this.#deps = deps;
    this.#limits = deps.limits ?? ENGINE_LIMITS;
    this.#store = new DeliveryStore(deps.storage, deps.clock());
    const context = (): PolicyContext => ({ now: deps.clock(), random: deps.random });
    this.#jobs = new JobSlotDriver(this.#store, context, deps.log);
    this.#streams = new RealtimeStreams(this.#store, context, deps.log, this.#limits);
    this.#alerts = new AlertMonitor(this.#store, deps.log);
  }

  /**
   * Merge Queue messages into the backlog and make sure the alarm will run. Each message is its
   * own transaction, with a pause between them for anything else waiting (a status call), so a
   * large batch never holds the object for long.
   */
  async enqueue(messages: readonly QueueMessageBody[]): Promise<number> {
    const store = this.#store;
    const now = this.#deps.clock();
    let rows = 0;
    let events = 0;
    let setAside = 0;
    let late = 0;
    for (const [index, message] of messages.entries()) {
      if (index > 0) await this.#deps.pause();
      if (message.kind === "events") {
        events += store.transaction(() =>
          store.events.add(
            message.events,
            message.receivedAt,
            (userId) => store.deletions.latest("users", userId),
          )
        );
      } else {
        const isLate = now - message.receivedAt > this.#limits.retention.settledRowsMs;
        const count = store.merge(message.kind, message.rows, message.receivedAt, now, isLate);
        setAside += count;
        if (isLate) late += count;
        rows += message.rows.length;
      }
    }
    store.meta.count("rowsReceived", rows);
    store.meta.count("eventsReceived", events);
    store.samples.record(now, () => observe(store, this.#slot()));
    if (setAside > 0) {
      // A late message's rows may be set aside for their lateness; any others, for their size.
      const reason = late === setAside
        ? "arrived after the retention window"
        : late > 0
        ? "arrived after the retention window, or too large to store"
        : "too large to store";
      this.#deps.log("warn", "rows_set_aside", { rows: setAside, reason });
    }
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
    if (recorded > 0) this.#deps.log("info", "deletions_accepted", { kind: target, ids: recorded });
    await this.#wake(this.#deps.clock());
    return recorded;
  }

  /** The backlog, the job in flight, the last error, rows set aside and the time to drain. */
  status(): DeliveryStatus {
    const tuning = this.#tuning();
    return statusOf(this.#store, this.#slot(), this.#streams.pacers(), {
      rowsPerMinute: tuning.rowsPerMinute,
      trackPerMinute: tuning.trackPerMinute,
      now: this.#deps.clock(),
    });
  }

  /** The status, the last 24 hours and a page of rows set aside, for the operator's page. */
  overview(options: { after?: number; limit: number }): DeliveryOverview {
    const now = this.#deps.clock();
    const live = { minute: minuteOf(now), ...observe(this.#store, this.#slot()) };
    const history = this.#store.samples.list(now).filter((sample) => sample.minute < live.minute);
    return {
      status: this.status(),
      history: [...history, live],
      setAside: this.listSetAside(options),
      audit: this.#store.audit.recent(AUDIT_SHOWN),
    };
  }

  /** Record a delete, redrive, purge or forget in the audit log (after it was done). */
  recordAudit(record: AuditRecord): AuditEntry {
    return this.#store.transaction(() => this.#store.audit.add(record, this.#deps.clock()));
  }

  /** A page of the rows set aside, values included (for operators). */
  listSetAside(options: { after?: number; limit: number; kind?: SetAsideKind | undefined }): {
    rows: SetAsideRow[];
    next: number | null;
  } {
    return this.#store.setAside.list(options);
  }

  /** Put selected rows set aside back into the backlog (sent alone, weighed afresh). Returns how many. */
  async redrive(selection: SetAsideSelection): Promise<number> {
    const total = await this.#eachBatch(
      selection,
      (batch) => this.#store.setAside.redrive(batch, this.#limits.batch, this.#deps.clock()),
    );
    if (total > 0) await this.#wake(this.#deps.clock());
    return total;
  }

  /** Delete selected rows set aside for good. Returns how many. */
  async purgeSetAside(selection: SetAsideSelection): Promise<number> {
    const total = await this.#eachBatch(
      selection,
      (batch) => this.#store.setAside.purge(batch, this.#limits.batch),
    );
    // The alarm looks at the alerts again: the set-aside condition may have cleared.
    if (total > 0) await this.#wake(this.#deps.clock());
    return total;
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
      ? await this.#inBatches(() => fingerprints.forgetUnseen(1e16, this.#limits.batch))
      : this.#store.transaction(() => fingerprints.forget(selection.kind, selection.ids));
  }

  /** Delivery steps until there is nothing to do now; then the alarm is set for the next one. */
  async alarm(): Promise<void> {
    const read = this.#readSettings();
    const config = this.#config(read.ok ? read.settings : read.tuning);
    let next: number | undefined;
    try {
      if (!read.ok) throw new Error(`settings: ${read.problems.join("; ")}`);
      next = await this.#deliver(read.settings, config);
    } catch (error) {
      // Any step that throws is recorded where the status shows it, and retried with backoff.
      const message = describeFailure(error);
      if (read.ok) this.#deps.log("error", "delivery_step_crashed", { message });
      else this.#settings = undefined; // read again next time, in case the fix needs no new instance
      next = this.#jobs.stepFailed(message, config);
    }
    // After the delivery work, never before it: alerts are evaluated here and posted in the background.
    if (read.ok) next = this.#alert(read.settings, next);
    const now = this.#deps.clock();
    // Going idle (nothing scheduled) settles this minute's sample, so the chart shows the rest.
    this.#store.samples.record(now, () => observe(this.#store, this.#slot(config)), next === undefined);
    // A whole millisecond after now, always: an alarm set back to the very millisecond of the one
    // running (a jittered time can round to it) is taken as unchanged and dropped when the
    // handler returns, and delivery would stall until the next enqueue.
    if (next !== undefined) await this.#deps.alarm.set(Math.max(Math.ceil(next), now + 1));
  }

  /**
   * Evaluate the alert conditions, and post what is due in the background (a receiver's wait never
   * holds the alarm). Returns when the alarm should run next, alerts' due times included.
   */
  #alert(settings: Settings, next: number | undefined): number | undefined {
    try {
      const now = this.#deps.clock();
      this.#alerts.evaluate({
        settings,
        counts: this.#store.lanes.counts(),
        pacers: this.#streams.pacers(),
        now,
      });
      const webhook = settings.alertWebhook;
      if (webhook !== null && this.#store.alerts.nextAt() !== null) {
        const { alertFetch, clock, random } = this.#deps;
        this.#deps.background(
          this.#alerts.flush(webhook, alertFetch, clock, random)
            .then(async (at) => {
              if (at !== null) await this.#wake(at);
            })
            .catch((error) => this.#deps.log("error", "alerts_failed", { message: describeFailure(error) })),
        );
      }
      const at = this.#alerts.nextAt(settings, now);
      return at === null ? next : Math.min(next ?? at, at);
    } catch (error) {
      this.#deps.log("error", "alerts_failed", { message: describeFailure(error) });
      return next;
    }
  }

  async #deliver(settings: Settings, config: DeliveryPolicyConfig): Promise<number | undefined> {
    const now = this.#deps.clock();
    // The purge scans settled rows: once a minute is plenty for retentions of hours.
    const { batch, purgeEveryMs } = this.#limits;
    // Deletes Userpilot's daily job has run since they were forwarded: what went after them is owed again.
    this.#store.recheckDeleted(now - DELETION_RUN_MS, batch, now);
    if (now - this.#lastPurge > purgeEveryMs) this.#purge(settings, now);
    const clients = this.#userpilot(settings);
    const realtime = realtimeConfig(settings);
    // Deletes first: the rows and events of a deleted id wait for them.
    const deletesFirst = await this.#streams.forwardDeletions(realtime, clients.realtime);
    const jobsNext = await this.#jobs.step(config, clients.bulk, settings.resendAfterMs);
    // A delete held back for the job in flight (it carries the ids) may go once that job is done.
    const deletesNext = deletesFirst ?? await this.#streams.forwardDeletions(realtime, clients.realtime);
    const eventsNext = await this.#streams.forwardEvents(realtime, clients.realtime);
    const forwarded = this.#store.deletions.firstUnrechecked();
    const recheckNext = forwarded === null ? undefined : forwarded + DELETION_RUN_MS;
    const times = [deletesNext, jobsNext, eventsNext, recheckNext].filter((at): at is number =>
      at !== undefined
    );
    return times.length === 0 ? undefined : Math.min(...times);
  }

  /**
   * What is past its retention (`retention.ts`) goes: settled rows, delivered events and rechecked
   * deletions (all of them, in one transaction: run every `purgeEveryMs`, there are few), and a
   * bounded batch of fingerprints of profiles not seen for `FORGET_AFTER_DAYS` and of entries set
   * aside that no operator acted on.
   */
  #purge(settings: Settings, now: number): void {
    const { batch, retention } = this.#limits;
    const store = this.#store;
    store.transaction(() => {
      store.backlog.purge(now - retention.settledRowsMs);
      store.events.purge(now - retention.deliveredEventsMs);
      store.deletions.purge(now - DELETION_RUN_MS);
      store.fingerprints.forgetUnseen(now - settings.forgetAfterMs, batch);
    });
    const expired = store.transaction(() => store.setAside.expire(now - retention.setAsideMs, batch));
    if (expired.length > 0) {
      // Named, so an operator can tell which profiles lost values nobody redrove in time.
      this.#deps.log("warn", "set_aside_expired", {
        entries: expired.length,
        days: retention.setAsideMs / 86_400_000,
        seqs: expired.map((entry) => entry.seq),
        ids: expired.map((entry) => `${entry.kind}/${entry.id}`),
      });
    }
    this.#lastPurge = now;
  }

  /**
   * Act on every row set aside that `selection` names, a batch of rows a transaction (all: until a
   * batch does less; seqs: a batch of them at a time), pausing between. Returns the rows acted on.
   */
  async #eachBatch(selection: SetAsideSelection, act: (batch: SetAsideSelection) => number): Promise<number> {
    if ("all" in selection) return await this.#inBatches(() => act(selection));
    const { batch } = this.#limits;
    let total = 0;
    for (let at = 0; at < selection.seqs.length; at += batch) {
      if (at > 0) await this.#deps.pause();
      const seqs = selection.seqs.slice(at, at + batch);
      total += this.#store.transaction(() => act({ seqs }));
    }
    return total;
  }

  /** Repeat `batch` (one transaction each, up to the limits' batch) until it does less; pause between. */
  async #inBatches(batch: () => number): Promise<number> {
    let total = 0;
    for (;;) {
      const done = this.#store.transaction(batch);
      total += done;
      if (done < this.#limits.batch) return total;
      await this.#deps.pause();
    }
  }

  /** The job slot's policy: the tuning's, with this engine's job size. */
  #config(tuning: Tuning): DeliveryPolicyConfig {
    return { ...deliveryConfig(tuning), maxRows: this.#limits.maxRowsPerJob };
  }

  #slot(config: DeliveryPolicyConfig = this.#config(this.#tuning())) {
    return this.#jobs.slot(config);
  }

  #tuning(): Tuning {
    const read = this.#readSettings();
    return read.ok ? read.settings : read.tuning;
  }

  #readSettings(): SettingsResult {
    // Settings only change with a deploy, which starts new instances: read them once.
    return this.#settings ??= this.#deps.settings();
  }

  /** Userpilot's clients, made once per settings. Every wait belongs to the policies and the alarm. */
  #userpilot(settings: Settings): { bulk: Connection; realtime: UserpilotRealtime } {
    if (this.#clients?.settings !== settings) {
      const common = { apiKey: settings.userpilotApiKey, baseUrl: settings.baseUrl, fetch: this.#counted };
      this.#clients = {
        settings,
        bulk: new Connection({
          ...common,
          timeoutMs: this.#limits.requestTimeoutMs,
          retry: { maxAttempts: 1 },
        }),
        realtime: new UserpilotRealtime({
          ...common,
          timeoutMs: this.#limits.requestTimeoutMs,
          retry: { maxAttempts: 1 },
        }),
      };
    }
    return this.#clients;
  }

  /**
   * Userpilot's `fetch`, counting each answer by status class, and each request that got none (a
   * network error, a timeout), for the metrics: every bulk job, poll, track and delete goes here.
   */
  readonly #counted: FetchFunction = async (request) => {
    let response: Response;
    try {
      response = await this.#deps.fetch(request);
    } catch (error) {
      this.#store.meta.count("answersNetworkError", 1);
      throw error;
    }
    // A Response's status is always 200 to 599.
    this.#store.meta.count(ANSWER_CLASSES[Math.floor(response.status / 100) - 2]!, 1);
    // Every answer is seen by the alerts: 401/403 raise `userpilot_unauthorized`, a success clears it.
    this.#alerts.answered(response.status);
    return response;
  };

  /**
   * Make sure the alarm runs now: new work may be due sooner than what the alarm waits for (a
   * deletion's recheck days away, a backoff: the step looks, and sets the alarm back).
   */
  async #wake(at: number): Promise<void> {
    const alarm = await this.#deps.alarm.get();
    if (alarm === null || alarm > at) await this.#deps.alarm.set(at);
  }
}
