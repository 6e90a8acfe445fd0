/**
 * The invariants: those checked all the way (after every few events, on the object's own SQLite),
 * and those checked when a scenario has drained (Userpilot's profiles against the reference model,
 * events, deletes). Each returns the problems it found, named for a person to read.
 * @module
 */
import type { BulkKind } from "../src/core/build-requests.ts";
import { DELETION_RUN_MS, type Retention } from "../src/worker/retention.ts";
import type { SqlStorageLike } from "../src/worker/sql.ts";
import type { ReferenceModel } from "./model.ts";
import type { SimulatedUserpilot } from "./userpilot.ts";

type Count = { kind: string; lane: string; n: number };

/** Checked after every few events: the object's tables agree with themselves. */
export function tableInvariants(storage: SqlStorageLike): string[] {
  const sql = storage.sql;
  const problems: string[] = [];
  const opened = sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'lane_counts'").toArray().length > 0;
  if (!opened) return problems; // nothing has called the object yet
  const kept = sql.exec<Count>("SELECT kind, lane, n FROM lane_counts").toArray();
  const counted = new Map<string, number>();
  for (
    const { kind, lane, n } of sql.exec<Count>(
      `SELECT kind, CASE WHEN suspect_limit IS NULL THEN 'fresh' ELSE 'suspect' END AS lane, count(*) AS n
       FROM rows WHERE pending_since IS NOT NULL GROUP BY 1, 2`,
    ).toArray()
  ) counted.set(`${kind}/${lane}`, n);
  counted.set(
    "events/queued",
    sql.exec<{ n: number }>("SELECT count(*) AS n FROM events WHERE delivered_at IS NULL").one().n,
  );
  counted.set(
    "deletions/queued",
    sql.exec<{ n: number }>("SELECT count(*) AS n FROM deletions WHERE forwarded_at IS NULL").one().n,
  );
  for (const { kind, lane, n } of kept) {
    const actual = counted.get(`${kind}/${lane}`) ?? 0;
    if (actual !== n) problems.push(`lane_counts says ${kind}/${lane} = ${n}, the table holds ${actual}`);
  }
  for (
    const row of sql.exec<{ kind: string; id: string; pending: number | null }>(
      "SELECT kind, id, pending_since AS pending FROM rows WHERE (pending_since IS NULL) = (settled_at IS NULL) LIMIT 3",
    ).toArray()
  ) {
    problems.push(
      `${row.kind} ${row.id} is ${
        row.pending === null ? "neither pending nor settled" : "both pending and settled"
      }`,
    );
  }
  const slot = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'slot'").toArray()[0];
  const job = slot === undefined ? null : JSON.parse(slot.value).state.job;
  const inflight = sql.exec<{ n: number }>("SELECT count(*) AS n FROM inflight").one().n;
  if ((job === null) !== (inflight === 0)) {
    problems.push(`the slot ${job === null ? "has no job" : "has a job"} but ${inflight} rows are in flight`);
  }
  const kinds = sql.exec<{ n: number }>("SELECT count(DISTINCT kind) AS n FROM inflight").one().n;
  if (kinds > 1) problems.push("the job in flight carries rows of two kinds");
  return problems;
}

/**
 * The stated storage bound: after a step of the object past every window, it keeps nothing its
 * retention (`retention.ts`) lets go: no settled row older than its window (but rows of an id
 * whose delete is not yet rechecked), no delivered event's id, no rechecked tombstone past the
 * deletion window. `since`: a time before that step (the purge ran at or after it).
 */
export function retentionKept(storage: SqlStorageLike, since: number, retention: Retention): string[] {
  const sql = storage.sql;
  const count = (query: string, before: number) => sql.exec<{ n: number }>(query, before).one().n;
  const problems: string[] = [];
  const rows = count(
    `SELECT count(*) AS n FROM rows WHERE pending_since IS NULL AND settled_at < ? AND NOT EXISTS
       (SELECT 1 FROM deletions d WHERE d.kind = rows.kind AND d.id = rows.id AND d.rechecked = 0)`,
    since - retention.settledRowsMs,
  );
  if (rows > 0) {
    problems.push(`${rows} settled rows outlived their ${retention.settledRowsMs / 60_000} minutes`);
  }
  const events = count(
    "SELECT count(*) AS n FROM events WHERE delivered_at IS NOT NULL AND delivered_at < ?",
    since - retention.deliveredEventsMs,
  );
  if (events > 0) {
    problems.push(
      `${events} delivered events outlived their ${retention.deliveredEventsMs / 60_000} minutes`,
    );
  }
  const tombstones = count(
    "SELECT count(*) AS n FROM deletions WHERE rechecked = 1 AND forwarded_at < ?",
    since - DELETION_RUN_MS,
  );
  if (tombstones > 0) problems.push(`${tombstones} deletion tombstones outlived the 48-hour deletion window`);
  return problems;
}

/**
 * Neither lane of pending rows waits behind the other for ever: while a lane has rows (that no
 * unforwarded delete holds), it must have a job within a few jobs of the other lane (the lanes
 * take turns, so one would do; six leave room for rows that arrive while a job runs). Follows the
 * engine's `job_submitted` and `job_completed` logs.
 */
export class LaneWatch {
  /** Per lane, jobs of the other lane completed since this one last had a job submitted. */
  readonly #passedOver = new Map<string, number>([["fresh", 0], ["suspect", 0]]);

  saw(event: "job_submitted" | "job_completed", lane: string): void {
    if (event === "job_submitted") this.#passedOver.set(lane, 0);
    else {
      const other = lane === "fresh" ? "suspect" : "fresh";
      this.#passedOver.set(other, this.#passedOver.get(other)! + 1);
    }
  }

  check(storage: SqlStorageLike): string[] {
    const sql = storage.sql;
    if (sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'lane_counts'").toArray().length === 0) return [];
    const problems: string[] = [];
    for (const lane of ["fresh", "suspect"] as const) {
      const waiting = sql.exec(
        `SELECT 1 FROM rows WHERE pending_since IS NOT NULL AND suspect_limit IS ${
          lane === "fresh" ? "" : "NOT "
        }NULL
           AND NOT EXISTS (SELECT 1 FROM deletions d WHERE d.kind = rows.kind AND d.id = rows.id
             AND d.forwarded_at IS NULL) LIMIT 1`,
      ).toArray().length > 0;
      // Nothing waiting: the other lane's jobs passed nothing over.
      if (!waiting) this.#passedOver.set(lane, 0);
      else if (this.#passedOver.get(lane)! > 6) {
        problems.push(
          `the ${lane} lane had rows waiting through ${this.#passedOver.get(lane)} jobs of the other`,
        );
      }
    }
    return problems;
  }
}

/** What an operator purged: those values and events are no longer owed. */
export interface Purged {
  readonly fields: Set<string>;
  readonly events: Set<string>;
  /** `kind/id/deletedAt` of deletes an operator gave up on. */
  readonly deletes: Set<string>;
  /** The latest identify purged, per user (those merged into it before went with it). */
  readonly identifies: Map<string, number>;
}

/** A set-aside entry's fields (`[value, acceptance time]` by field), or an event's id. */
function setAsideOf(
  storage: SqlStorageLike,
): { fields: Set<string>; events: Set<string>; deletes: Set<string>; users: Set<string> } {
  const users = new Set<string>();
  const fields = new Set<string>();
  const events = new Set<string>();
  const deletes = new Set<string>();
  for (
    const entry of storage.sql.exec<{ kind: string; id: string; row: string; fields: string | null }>(
      "SELECT kind, id, row, fields FROM set_aside",
    ).toArray()
  ) {
    const parsed = entry.fields === null ? {} : JSON.parse(entry.fields);
    if (entry.kind === "events") events.add(parsed.eventId);
    else if (entry.kind === "deletions") {
      deletes.add(`${JSON.parse(entry.row).kind}/${entry.id}/${parsed.deletedAt}`);
    } else {
      if (entry.kind === "users") users.add(entry.id);
      for (const [name, [value, ts]] of Object.entries(parsed as Record<string, [unknown, number]>)) {
        fields.add(fieldKey(entry.kind, entry.id, name, value, ts));
      }
    }
  }
  return { fields, events, deletes, users };
}

/** A field version's key, for the sets of what is set aside or purged. */
export const fieldKey = (kind: string, id: string, name: string, value: unknown, ts: number): string =>
  `${kind}/${id}/${name}/${JSON.stringify(value)}/${ts}`;

type Profile = { user_id?: string; company_id?: string; metadata: Record<string, unknown> };
type Arrival = { user_id: string; metadata: { n?: number }; known: boolean; at: string };

/** When everything has drained: Userpilot holds what the model says, or the difference is set aside. */
export async function finalChecks(
  model: ReferenceModel,
  userpilot: SimulatedUserpilot,
  storage: SqlStorageLike,
  purged: Purged,
  everSetAside: ReadonlySet<string>,
): Promise<{ problems: string[]; repeats: number; late: number; checked: number; eventsChecked: number }> {
  const problems: string[] = [];
  const aside = setAsideOf(storage);
  const held = new Map<string, Profile>();
  for (const kind of ["users", "companies"] as const) {
    for (const profile of await userpilot.inspect<Profile[]>(`/${kind}`)) {
      held.set(`${kind}/${kind === "users" ? profile.user_id : profile.company_id}`, profile);
    }
  }
  let checked = 0;
  const excused = (kind: BulkKind, id: string, name: string, value: unknown, stamp: number) => {
    const k = fieldKey(kind, id, name, value, stamp);
    return aside.fields.has(k) || purged.fields.has(k);
  };
  // A delete set aside (or purged) by the operator has not happened at Userpilot.
  const undone = (kind: string, id: string, stamp: number) =>
    aside.deletes.has(`${kind}/${id}/${stamp}`) || purged.deletes.has(`${kind}/${id}/${stamp}`);
  for (const { kind, id } of model.profiles()) {
    checked++;
    const expected = model.expected(kind, id, undone);
    const profile = held.get(`${kind}/${id}`);
    const name = `${kind === "users" ? "user" : "company"} ${id}`;
    if (!expected.exists && (profile === undefined || expected.fields.size === 0)) {
      if (profile !== undefined) problems.push(`${name} should not exist at Userpilot (deleted), but does`);
      continue;
    }
    if (profile === undefined) {
      const owed = [...expected.fields].filter(([field, { values, stamp, loose }]) =>
        !loose && !values.some((value) => excused(kind, id, field, value, stamp))
      );
      if (owed.length > 0) {
        problems.push(`${name} is missing at Userpilot (owed: ${owed.map(([f]) => f).join(", ")})`);
      }
      continue;
    }
    for (const [field, { values, stamp, loose }] of expected.fields) {
      if (field === "@") continue;
      const actual = field === "company_id"
        ? profile.company_id ?? null
        : profile.metadata[field.slice(2)] ?? null;
      if (values.some((value) => JSON.stringify(value) === JSON.stringify(actual))) continue;
      if (loose && actual === null) continue;
      if (values.some((value) => excused(kind, id, field, value, stamp))) continue;
      problems.push(
        `${name}: ${field} is ${JSON.stringify(actual)} at Userpilot, the merge of what was accepted says ${
          values.map((value) => JSON.stringify(value)).join(" or ")
        }`,
      );
    }
    for (const key of Object.keys(profile.metadata)) {
      if (!expected.fields.has(`m:${key}`)) {
        problems.push(`${name}: Userpilot holds ${key}, which nothing accepted since its last delete set`);
      }
    }
  }
  // Events: each accepted one at Userpilot once (repeats only where an answer was lost), after its
  // user was identified, in acceptance order per user (unless it reached the object only after a
  // later one of its user had gone to Userpilot: late, counted apart).
  const arrivals = (await userpilot.inspect<Arrival[]>("/events")).filter((e) => e.metadata.n !== undefined);
  const seen = new Map<number, number>();
  const firstAt = new Map<number, number>();
  const order = new Map<string, number[]>();
  for (const arrival of arrivals) {
    const n = arrival.metadata.n!;
    seen.set(n, (seen.get(n) ?? 0) + 1);
    if (seen.get(n) === 1) {
      firstAt.set(n, Date.parse(arrival.at));
      const list = order.get(arrival.user_id) ?? [];
      list.push(n);
      order.set(arrival.user_id, list);
    }
  }
  const known = new Map(arrivals.map((arrival) => [arrival.metadata.n!, arrival.known]));
  let repeats = 0;
  let late = 0;
  let eventsChecked = 0;
  const owed = new Map<number, { stamp: number; eventId: string }>();
  for (const { eventId, event, stamp } of model.events()) {
    const n = (event.metadata as { n: number }).n;
    // Dropped with its user (or sent before the delete: either is right), whether or not Userpilot
    // then took the delete.
    const deletedAfter = model.deletedAt("users", event.user_id) > stamp;
    if (deletedAfter) continue;
    if (aside.events.has(eventId) || purged.events.has(eventId)) continue;
    if (aside.users.has(event.user_id) && (seen.get(n) ?? 0) === 0) continue; // kept, behind its user's row
    eventsChecked++;
    const times = seen.get(n) ?? 0;
    if (times === 0) {
      problems.push(`event #${n} of user ${event.user_id} never reached Userpilot`);
      continue;
    }
    repeats += times - 1;
    owed.set(n, { stamp, eventId });
    // A purged identify took with it the earlier ones merged into its row.
    const purgedIdentify = (at: number) => (purged.identifies.get(event.user_id) ?? -Infinity) >= at;
    if (model.identifiedBefore(event.user_id, stamp, purgedIdentify) && known.get(n) === false) {
      problems.push(
        `event #${n} reached Userpilot before user ${event.user_id} was identified (it was ignored)`,
      );
    }
  }
  for (const [user, delivered] of order) {
    const list = delivered.filter((n) => owed.has(n));
    for (let j = 0; j < list.length; j++) {
      const after = owed.get(list[j]!)!;
      for (let i = 0; i < j; i++) {
        const before = owed.get(list[i]!)!;
        if (before.stamp <= after.stamp) continue;
        // Set aside (refused alone) and redriven by an operator: the user's later events went on
        // meanwhile, as they should (one bad event does not hold its user's stream).
        if (everSetAside.has(after.eventId)) break;
        // #i went first though accepted later: right only if #j reached the object after #i had gone.
        if (model.objectArrival(after.eventId) > firstAt.get(list[i]!)!) {
          late++;
          break;
        }
        problems.push(`user ${user}'s event #${list[j]} reached Userpilot after #${list[i]}, accepted later`);
        break;
      }
    }
  }
  return { problems, repeats, late, checked, eventsChecked };
}
