/**
 * Alerts: which conditions need an operator, decided after each delivery step from what the store
 * holds, each told once when raised, reminded at most every {@link ALERT_REMINDER_MS}, and told
 * again when it clears; posted, signed the Standard Webhooks way, from an outbox in SQLite, off
 * the delivery path. The payload carries counts, times and reasons, never a row value or a key.
 * @module
 */
import { describeFailure } from "../../core/errors.ts";
import type { FetchFunction } from "../../core/transport.ts";
import { backoffDelay } from "../../core/retry.ts";
import { signPayload } from "../../core/signature.ts";
import type { Log } from "../log.ts";
import type { Settings } from "../settings.ts";
import type { BacklogCounts, DeliveryStore } from "../store/index.ts";
import type { PacersStatus } from "./realtime.ts";

/** The conditions alerted on; each is an alert's stable `type`. */
export const ALERT_TYPES = [
  "set_aside",
  "backlog_age",
  "userpilot_unauthorized",
  "events_blocked",
  "deletions_blocked",
] as const;

/** An alert's `type`. */
export type AlertType = (typeof ALERT_TYPES)[number];

/** What an alert tells: a condition raised, still there, or cleared. */
export type AlertState = "raised" | "reminder" | "resolved";

/** The JSON body of every alert. */
export interface AlertPayload {
  type: AlertType;
  state: AlertState;
  /** When the condition was first seen (ISO). */
  since: string;
  /** When this alert was made (ISO). */
  timestamp: string;
  data: Record<string, unknown>;
}

/** Least time between two alerts of one condition that has not cleared. */
export const ALERT_REMINDER_MS = 4 * 3_600_000;

/**
 * A real-time stream (events, deletions) is blocked when this many requests in a row have failed
 * (429, 5xx, 401, no answer; a refusal of one event or delete is weighed, and set aside, apart)
 * while it has work waiting: at the default backoff (1 s doubling to 60 s, full jitter) that is a
 * few minutes of failing. Fewer would flap: the soak, at 20-50% of calls failing, met runs of five.
 */
export const STREAM_BLOCKED_FAILURES = 10;

/** Longest wait for the receiver's answer. */
export const ALERT_TIMEOUT_MS = 10_000;

/** An alert not delivered within a day is dropped (logged): a receiver down that long gets the newer ones. */
const ALERT_GIVE_UP_MS = 86_400_000;

/** The alerts' own backoff: 5 s, doubling, full jitter, at most 30 minutes. */
const ALERT_BACKOFF = { baseDelayMs: 5_000, maxDelayMs: 1_800_000 };

/** Alerts posted per flush, one at a time. */
const POSTS_PER_FLUSH = 10;

/** Groups of reasons an alert lists at most (the most frequent). */
const REASONS_SHOWN = 10;

/** What the conditions are read from, after a delivery step. */
export interface AlertInputs {
  readonly settings: Settings;
  readonly counts: BacklogCounts;
  readonly pacers: PacersStatus;
  readonly now: number;
}

/** A condition as observed now: present with its details, or absent. */
type Observed = { data: Record<string, unknown>; mark?: number } | null;

/**
 * Decides and posts alerts. `answered` is told every status Userpilot answers with (401/403 raise
 * `userpilot_unauthorized`, a 2xx clears it); `evaluate` runs after a delivery step (synchronous,
 * one transaction); `flush` posts what is due, never more than one flush at a time.
 */
export class AlertMonitor {
  readonly #store: DeliveryStore;
  readonly #log: Log;
  /** Userpilot's latest telling answer: 401/403, or 0 for a success; unknown since a restart. */
  #auth: number | undefined;
  #flushing = false;

  constructor(store: DeliveryStore, log: Log) {
    this.#store = store;
    this.#log = log;
  }

  /** Userpilot answered `status`. */
  answered(status: number): void {
    if (status === 401 || status === 403) this.#auth = status;
    else if (status >= 200 && status < 300) this.#auth = 0;
  }

  /** Raise, remind and clear conditions; queue their alerts when a receiver is configured. */
  evaluate(inputs: AlertInputs): void {
    const store = this.#store;
    const { now, settings } = inputs;
    store.transaction(() => {
      const raised = new Map(store.alerts.raised().map((alert) => [alert.type, alert]));
      for (const type of ALERT_TYPES) {
        const before = raised.get(type);
        const seen = this.#observe(type, inputs, before?.mark ?? 0);
        if (seen === undefined) continue; // not known now: left as it was
        let state: AlertState;
        if (seen !== null && before === undefined) state = "raised";
        else if (seen !== null && before !== undefined && now - before.notifiedAt >= ALERT_REMINDER_MS) {
          state = "reminder";
        } else if (seen === null && before !== undefined) state = "resolved";
        else continue;
        const since = before?.since ?? now;
        if (state === "resolved") store.alerts.cleared(type);
        else store.alerts.notified(type, since, now, seen?.mark ?? 0);
        this.#log(state === "resolved" ? "info" : "warn", "alert", { type, state });
        if (settings.alertWebhook === null) continue;
        const payload: AlertPayload = {
          type,
          state,
          since: new Date(since).toISOString(),
          timestamp: new Date(now).toISOString(),
          data: seen?.data ?? {},
        };
        store.alerts.queue(`alert_${type}_${since}_${state}_${now}`, JSON.stringify(payload), now);
      }
    });
  }

  /** When alerts next need a look at `now`: an alert due, or a reminder (`null`: none, or no receiver). */
  nextAt(settings: Settings, now: number): number | null {
    if (settings.alertWebhook === null) return null;
    // Reminders of what can be told now: Userpilot's answer to the key is unknown after a restart
    // until it answers again (a reminder due then would wake the alarm at once, again and again).
    const times = this.#store.alerts.raised()
      .filter((alert) => alert.type !== "userpilot_unauthorized" || this.#auth !== undefined)
      .map((alert) => alert.notifiedAt + ALERT_REMINDER_MS);
    const due = this.#store.alerts.nextAt();
    // A flush under way wakes the alarm itself when it ends; this is only in case it never does
    // (the object was evicted), so the alarm does not spin while a post waits for its answer.
    if (due !== null) times.push(this.#flushing ? Math.max(due, now + ALERT_TIMEOUT_MS) : due);
    return times.length === 0 ? null : Math.min(...times);
  }

  /**
   * Post the alerts due, signed with the webhook's secret, each with a bounded wait; a failed one
   * waits for its backoff. Returns when the next one is due (`null`: none waits).
   */
  async flush(
    webhook: { url: string; secret: string },
    fetch: FetchFunction,
    clock: () => number,
    random: () => number,
  ): Promise<number | null> {
    if (this.#flushing) return null; // the flush under way looks again when it ends
    this.#flushing = true;
    const alerts = this.#store.alerts;
    try {
      for (const entry of alerts.due(clock(), POSTS_PER_FLUSH)) {
        let failure: string | undefined;
        try {
          const headers = await signPayload(webhook.secret, entry.body, {
            id: entry.messageId,
            timestamp: clock() / 1000,
          });
          const response = await fetch(
            new Request(webhook.url, {
              method: "POST",
              body: entry.body,
              headers: { ...headers, "Content-Type": "application/json" },
              signal: AbortSignal.timeout(ALERT_TIMEOUT_MS),
            }),
          );
          await response.body?.cancel();
          if (!response.ok) failure = `the receiver answered ${response.status}`;
        } catch (error) {
          failure = describeFailure(error);
        }
        const now = clock();
        const attempts = entry.attempts + 1;
        const fields = { id: entry.messageId, attempts, message: failure };
        if (failure === undefined) {
          alerts.done(entry.seq);
          this.#log("info", "alert_sent", fields);
        } else if (now - entry.createdAt > ALERT_GIVE_UP_MS) {
          alerts.done(entry.seq);
          this.#log("error", "alert_dropped", fields);
        } else {
          alerts.retry(entry.seq, now + backoffDelay(attempts, ALERT_BACKOFF, random));
          this.#log("warn", "alert_failed", fields);
          break; // the later ones wait for it: alerts go in the order they were made
        }
      }
    } finally {
      this.#flushing = false;
    }
    return alerts.nextAt();
  }

  /** Whether `type` holds now (`null`: it does not; `undefined`: cannot tell). */
  #observe(
    type: AlertType,
    { settings, counts, pacers, now }: AlertInputs,
    mark: number,
  ): Observed | undefined {
    switch (type) {
      case "set_aside": {
        const total = this.#store.setAside.count();
        if (total === 0) return null;
        // Reasons of what was set aside since the last alert of this condition.
        const { latest, groups } = this.#store.setAside.countedAfter(mark);
        return {
          data: { total, added: groups.slice(0, REASONS_SHOWN) },
          mark: latest,
        };
      }
      case "backlog_age": {
        const oldest = counts.oldestPendingAt === null ? null : Date.parse(counts.oldestPendingAt);
        if (oldest === null || now - oldest < settings.alertBacklogAgeMs) return null;
        return {
          data: {
            oldestPendingAt: counts.oldestPendingAt,
            ageSeconds: Math.floor((now - oldest) / 1000),
            thresholdSeconds: settings.alertBacklogAgeMs / 1000,
            pending: counts.pending,
          },
        };
      }
      case "userpilot_unauthorized":
        if (this.#auth === undefined) return undefined;
        return this.#auth === 0 ? null : { data: { status: this.#auth } };
      case "events_blocked":
      case "deletions_blocked": {
        const stream = type === "events_blocked" ? "events" : "deletions";
        const { streak } = pacers[stream];
        const pending = counts.pending[stream];
        if (streak < STREAM_BLOCKED_FAILURES || pending === 0) return null;
        return { data: { stream, failures: streak, pending } };
      }
    }
  }
}
