/**
 * The delivery object's real-time streams: deletes and events to Userpilot, one request at a time
 * at Userpilot's pace.
 * @module
 */
import { outcomeOf } from "../../core/delivery-outcome.ts";
import type { Outcome, PolicyContext } from "../../core/delivery-policy.ts";
import {
  dueRequests,
  IDLE_PACER,
  onPacedOutcome,
  type PacedEffect,
  type PacerState,
} from "../../core/pacer.ts";
import type { UserpilotRealtime } from "../../core/realtime-client.ts";
import type { Log } from "../log.ts";
import type { DeletionBatch, DeliveryStore, QueuedEvent } from "../store/index.ts";
import type { RealtimeConfig } from "./config.ts";
import type { EngineLimits } from "./limits.ts";

/** Most rounds in one alarm before it lets anything else run. */
const ROUNDS_PER_STEP = 10;

/** The last error and backoff of the two paced streams, for the status. */
export interface PacersStatus {
  readonly events: PacerState;
  readonly deletions: PacerState;
}

const PACER_KEYS = { events: "pacer_events", deletions: "pacer_deletions" } as const;

/**
 * The delivery object's real-time traffic, under the core's pacer (`src/core/pacer.ts`): deletes
 * forwarded first (rows and events of a deleted id wait for them), one request every 2 seconds,
 * then events to Userpilot's track, one request at a time under `TRACK_PER_MINUTE`. Each step
 * returns when it should run again (`undefined`: nothing waits). Time and randomness come from
 * `context`, Userpilot from the client each step is given.
 */
export class RealtimeStreams {
  readonly #store: DeliveryStore;
  readonly #context: () => PolicyContext;
  readonly #log: Log;
  readonly #limits: EngineLimits;

  constructor(store: DeliveryStore, context: () => PolicyContext, log: Log, limits: EngineLimits) {
    this.#store = store;
    this.#context = context;
    this.#log = log;
    this.#limits = limits;
  }

  /** The paced streams' state, as last saved. */
  pacers(): PacersStatus {
    return { events: this.#pacer("events"), deletions: this.#pacer("deletions") };
  }

  /**
   * Forward the oldest deletions waiting, if the pace allows. A request Userpilot refuses is split:
   * each of its deletions then goes alone, and one refused alone is weighed like a row (set aside
   * on evidence, meanwhile retried after a backoff), never holding the others back.
   */
  async forwardDeletions(config: RealtimeConfig, realtime: UserpilotRealtime): Promise<number | undefined> {
    const pacer = this.#pacer("deletions");
    const deletions = this.#store.deletions;
    const batch = deletions.next(this.#limits.deleteBatchIds, this.#context().now);
    if (batch === undefined) return deletions.nextRetryAt() ?? undefined;
    // A job already at Userpilot carries values of these ids, accepted before the delete: it
    // cannot be recalled, so the delete goes after it (the job's completion wakes this again).
    if (this.#store.job.carriesAny(batch.kind, batch.ids)) return undefined;
    if (this.#context().now < pacer.nextAt) return pacer.nextAt;
    let outcome: Outcome | { type: "sent" };
    try {
      await (batch.kind === "users" ? realtime.deleteUsers(batch.ids) : realtime.deleteCompanies(batch.ids));
      outcome = { type: "sent" };
    } catch (error) {
      outcome = outcomeOf(error, "submit");
    }
    const after = this.#context();
    const { state, effect } = onPacedOutcome(
      pacer,
      outcome,
      batch.alone?.refusals ?? null,
      config.deletes,
      after,
    );
    this.#store.transaction(() => {
      if (effect.type === "delivered") {
        deletions.forwarded(batch.seqs, after.now);
        this.#store.meta.count("deletionsSent", batch.seqs.length);
      } else if (effect.type === "refused") this.#refused(batch, effect, after.now);
      this.#save("deletions", state);
    });
    if (effect.type === "delivered") {
      this.#log("info", "deletions_forwarded", { kind: batch.kind, ids: batch.ids.length });
    } else this.#log("warn", "delivery_failure", { stream: "deletions", message: state.lastError?.message });
    return state.nextAt;
  }

  /** Userpilot refused a delete request: split it, or weigh the one deletion it held. */
  #refused(batch: DeletionBatch, effect: Extract<PacedEffect, { type: "refused" }>, now: number): void {
    const deletions = this.#store.deletions;
    if (batch.alone === undefined) {
      deletions.alone(batch.seqs);
      return;
    }
    const [seq] = batch.seqs as [number];
    if (!effect.setAside) {
      deletions.refused(seq, effect.record, effect.retryAt);
      return;
    }
    const [id] = batch.ids as [string];
    this.#store.setAside.add(
      "deletions",
      id,
      { kind: batch.kind, id },
      { deletedAt: batch.alone.deletedAt },
      effect.reason,
      effect.record.count,
      now,
    );
    deletions.remove(seq);
    this.#log("warn", "deletion_set_aside", { kind: batch.kind, reason: effect.reason });
  }

  /**
   * Send the events that may go now, at the pace allowed: each round sends, together, as many as
   * the pace has room for (at most the limits' `eventsPerRound`, each the oldest of a different user).
   */
  async forwardEvents(config: RealtimeConfig, realtime: UserpilotRealtime): Promise<number | undefined> {
    for (let round = 0; round < ROUNDS_PER_STEP; round++) {
      let pacer = this.#pacer("events");
      const { now } = this.#context();
      if (now < pacer.nextAt) return pacer.nextAt;
      const due = dueRequests(pacer, config.track, now, this.#limits.eventsPerRound);
      const heads = this.#store.events.ready(due, now, config.eventHoldMs);
      if (heads.length === 0) {
        // Nothing may go yet: wake when a hold or a retry wait ends (events held back by a pending
        // identify are looked at again when its job completes).
        const at = this.#store.events.nextReadyAt(config.eventHoldMs);
        return at === null ? undefined : Math.max(at, now + 1);
      }
      const outcomes = await Promise.all(heads.map(async (head): Promise<Outcome | { type: "sent" }> => {
        try {
          await realtime.track(head.event);
          return { type: "sent" };
        } catch (error) {
          return outcomeOf(error, "submit");
        }
      }));
      const after = this.#context();
      this.#store.transaction(() => {
        let sent = 0;
        heads.forEach((head, i) => {
          const decided = onPacedOutcome(pacer, outcomes[i]!, head.refusals, config.track, after);
          pacer = decided.state;
          if (decided.effect.type === "delivered") sent++;
          this.#settleEvent(head, decided.effect, after.now, pacer.lastError?.message);
        });
        this.#store.meta.count("eventsSent", sent);
        this.#save("events", pacer);
      });
    }
    return this.#context().now;
  }

  /** What one event's outcome means for it: delivered, waiting for a retry, or set aside. */
  #settleEvent(head: QueuedEvent, effect: PacedEffect, now: number, failure: string | undefined): void {
    if (effect.type === "delivered") this.#store.events.delivered(head.seq, now);
    else if (effect.type === "refused" && effect.setAside) {
      this.#store.setAside.add(
        "events",
        head.event.user_id,
        head.event,
        { eventId: head.eventId, acceptedAt: head.acceptedAt },
        effect.reason,
        effect.record.count,
        now,
      );
      this.#store.events.remove(head.seq);
      this.#log("warn", "event_set_aside", { reason: effect.reason });
    } else if (effect.type === "refused") this.#store.events.refused(head.seq, effect.record, effect.retryAt);
    else this.#log("warn", "delivery_failure", { stream: "events", message: failure });
  }

  #pacer(stream: keyof typeof PACER_KEYS): PacerState {
    const text = this.#store.meta.get(PACER_KEYS[stream]);
    return text === undefined ? IDLE_PACER : JSON.parse(text);
  }

  #save(stream: keyof typeof PACER_KEYS, state: PacerState): void {
    this.#store.meta.set(PACER_KEYS[stream], JSON.stringify(state));
  }
}
