/**
 * The reference model: what Userpilot must end up with, from everything the endpoint queued and
 * every delete it accepted, merged in acceptance-stamp order (later wins per field, `null`
 * removes, a new `company_id` moves the user; a delete removes what was accepted before it).
 * @module
 */
import type { BulkKind } from "../src/core/build-requests.ts";
import type { TrackEvent } from "../src/core/event-schema.ts";
import type { Company, User } from "../src/core/schemas.ts";
import type { QueueMessageBody } from "../src/worker/queue-message.ts";

type Value = string | number | boolean | null;

/** One field of a profile: a value, and when it was accepted. */
interface Version {
  readonly value: Value;
  readonly stamp: number;
}

/** An accepted event, as the model knows it. */
export interface ModelEvent {
  readonly eventId: string;
  readonly event: TrackEvent;
  readonly stamp: number;
}

/** What a profile must look like at Userpilot. */
export interface ExpectedProfile {
  /** Whether Userpilot must have it. */
  readonly exists: boolean;
  /**
   * Per field (`@`, `company_id`, `m:<key>`): every value that may win (ties), and its stamp.
   * `loose`: every value came before a delete Userpilot refused (set aside or purged); the endpoint
   * dropped what it had not delivered when it took the delete in, so Userpilot holds any of them
   * (what it had by then) or none.
   */
  readonly fields: Map<string, { values: Value[]; stamp: number; loose: boolean }>;
}

const key = (kind: string, id: string) => `${kind}\u0000${id}`;

/** Deletes that did not happen at Userpilot (set aside, or purged by an operator), by stamp. */
export type Undone = (kind: string, id: string, stamp: number) => boolean;
const NONE_UNDONE: Undone = () => false;

/** Every input the endpoint took in, and what follows from them. */
export class ReferenceModel {
  readonly #rows = new Map<string, { kind: BulkKind; id: string; versions: Map<string, Version[]> }>();
  readonly #deletes = new Map<string, number[]>();
  readonly #events = new Map<string, ModelEvent>();
  readonly #reachedObject = new Map<string, number>();
  /** Inputs taken in (messages and deletes). */
  inputs = 0;
  /** Whether any delete was accepted. */
  deleted = false;

  /** A message the endpoint queued. */
  message(body: QueueMessageBody): void {
    this.inputs++;
    if (body.kind === "events") {
      // Keyed by what the caller sent (each event the simulator makes is unique), not by the id
      // the endpoint gave it: two events must never pass for one.
      for (const { eventId, event } of body.events) {
        const identity = JSON.stringify(event);
        if (!this.#events.has(identity)) {
          this.#events.set(identity, { eventId, event, stamp: body.receivedAt });
        }
      }
      return;
    }
    for (const row of body.rows) this.#row(body.kind, row, body.receivedAt);
  }

  /** Events handed to the delivery object at `at` (the first time is kept). */
  reachedObject(eventIds: readonly string[], at: number): void {
    for (const id of eventIds) if (!this.#reachedObject.has(id)) this.#reachedObject.set(id, at);
  }

  /** When an event was first handed to the delivery object. */
  objectArrival(eventId: string): number {
    return this.#reachedObject.get(eventId) ?? Number.POSITIVE_INFINITY;
  }

  /** A delete the endpoint accepted (the delivery object recorded it). */
  delete(kind: BulkKind, ids: readonly string[], stamp: number): void {
    this.inputs++;
    this.deleted = true;
    for (const id of ids) {
      const list = this.#deletes.get(key(kind, id)) ?? [];
      list.push(stamp);
      this.#deletes.set(key(kind, id), list);
    }
  }

  #row(kind: BulkKind, row: User | Company, stamp: number): void {
    const id = kind === "users" ? (row as User).user_id : (row as Company).company_id;
    const k = key(kind, id);
    let entry = this.#rows.get(k);
    if (entry === undefined) {
      entry = { kind, id, versions: new Map() };
      this.#rows.set(k, entry);
    }
    const add = (name: string, value: Value) => {
      const list = entry!.versions.get(name) ?? [];
      list.push({ value, stamp });
      entry!.versions.set(name, list);
    };
    add("@", null);
    if (kind === "users" && (row as User).company_id !== undefined) {
      add("company_id", (row as User).company_id!);
    }
    for (const [name, value] of Object.entries(row.metadata ?? {})) {
      add(
        `m:${name}`,
        (value as unknown) instanceof Date ? (value as unknown as Date).toISOString() : (value as Value),
      );
    }
  }

  /** When the profile was last deleted (a delete accepted, and not `undone`), or `-Infinity`. */
  deletedAt(kind: BulkKind, id: string, undone: Undone = NONE_UNDONE): number {
    const list = (this.#deletes.get(key(kind, id)) ?? []).filter((stamp) => !undone(kind, id, stamp));
    return list.length === 0 ? Number.NEGATIVE_INFINITY : Math.max(...list);
  }

  /** Every profile the model knows of (identified or deleted). */
  profiles(): { kind: BulkKind; id: string }[] {
    const seen = new Map<string, { kind: BulkKind; id: string }>();
    for (const { kind, id } of this.#rows.values()) seen.set(key(kind, id), { kind, id });
    for (const k of this.#deletes.keys()) {
      const [kind, id] = k.split("\u0000") as [BulkKind, string];
      seen.set(k, { kind, id });
    }
    return [...seen.values()];
  }

  /** What Userpilot must hold of a profile: the merge of what was accepted after its last delete. */
  expected(kind: BulkKind, id: string, undone: Undone = NONE_UNDONE): ExpectedProfile {
    const deleted = this.deletedAt(kind, id, undone);
    // The last delete accepted, done or not: nothing from before it is still owed.
    const lastDelete = this.deletedAt(kind, id);
    const fields = new Map<string, { values: Value[]; stamp: number; loose: boolean }>();
    let exists = false;
    const entry = this.#rows.get(key(kind, id));
    for (const [name, versions] of entry?.versions ?? []) {
      const after = versions.filter((v) => v.stamp > deleted);
      if (after.length === 0) continue;
      const stamp = Math.max(...after.map((v) => v.stamp));
      if (stamp < lastDelete) {
        fields.set(name, { values: [...new Set(after.map((v) => v.value))], stamp, loose: true });
        continue;
      }
      exists = true;
      const values = [...new Set(after.filter((v) => v.stamp === stamp).map((v) => v.value))];
      fields.set(name, { values, stamp, loose: false });
    }
    return { exists, fields };
  }

  /**
   * Whether the user was identified after its last delete (done or not: a refused one dropped
   * what was not yet delivered) and before `before` (its events wait for that), by an identify
   * an operator did not purge.
   */
  identifiedBefore(
    userId: string,
    before: number,
    purged: (stamp: number) => boolean = () => false,
  ): boolean {
    const deleted = this.deletedAt("users", userId);
    const versions = this.#rows.get(key("users", userId))?.versions.get("@") ?? [];
    return versions.some((v) => v.stamp > deleted && v.stamp < before && !purged(v.stamp));
  }

  /** Every event accepted, in acceptance order (per user, this is the order Userpilot must see). */
  events(): ModelEvent[] {
    return [...this.#events.values()].sort((a, b) => a.stamp - b.stamp || (a.eventId < b.eventId ? -1 : 1));
  }
}
