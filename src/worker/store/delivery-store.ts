/**
 * The delivery object's SQLite, as one object: each table's store, and the changes that span
 * several of them (a deletion), each one transaction.
 * @module
 */
import type { BulkKind } from "../../core/build-requests.ts";
import type { Company, User } from "../../core/schemas.ts";
import { AlertStore } from "./alerts.ts";
import { AuditLog } from "./audit.ts";
import { Backlog } from "./backlog.ts";
import { DeletionStore } from "./deletions.ts";
import { EventStore } from "./events.ts";
import { FingerprintStore } from "./fingerprints.ts";
import { JobInFlightStore } from "./job-in-flight.ts";
import { Lanes } from "./lanes.ts";
import { Meta } from "./meta.ts";
import { Samples } from "./samples.ts";
import { migrate } from "./schema.ts";
import { SetAsideStore } from "./set-aside.ts";
import type { SqlStorageLike } from "../sql.ts";

/**
 * Everything the delivery object keeps: the backlog of rows merged by id, read in two lanes
 * (fresh, and suspects from failed jobs); the job in flight and the slot's policy state; events
 * and deletions for Userpilot's real-time calls; rows set aside; fingerprints of what Userpilot
 * has; the chart's samples; counters; the audit log; alert state. Every method is synchronous; opening it migrates the schema.
 */
export class DeliveryStore {
  readonly #storage: SqlStorageLike;
  readonly meta: Meta;
  /** Pending and recently settled rows, merged by id. */
  readonly backlog: Backlog;
  /** The two lanes of pending rows: what is ready, the next job's candidates, the counts. */
  readonly lanes: Lanes;
  /** The slot's policy state and the rows of the job in flight. */
  readonly job: JobInFlightStore;
  /** Rows and events set aside, kept with their values for an operator. */
  readonly setAside: SetAsideStore;
  /** Events for Userpilot's track, in order. */
  readonly events: EventStore;
  /** Deletions: tombstones, and the queue of deletes to forward. */
  readonly deletions: DeletionStore;
  /** One sample a minute of the backlog and of rows delivered, for the operator's chart. */
  readonly samples: Samples;
  /** What Userpilot has, per profile, as fingerprints of what completed jobs delivered. */
  readonly fingerprints: FingerprintStore;
  /** Who deleted, redrove, purged or forgot what, and when. */
  readonly audit: AuditLog;
  /** Alert conditions raised, and alerts still to post. */
  readonly alerts: AlertStore;

  constructor(storage: SqlStorageLike, now: number) {
    migrate(storage, now);
    const sql = storage.sql;
    const transaction = <T>(fn: () => T): T => storage.transactionSync(fn);
    this.#storage = storage;
    this.meta = new Meta(sql);
    this.events = new EventStore(sql);
    this.deletions = new DeletionStore(sql);
    this.setAside = new SetAsideStore(sql, {
      row: (kind, id, fields, since, at) => this.backlog.restore(kind, id, fields, since, at),
      event: (eventId, event, acceptedAt) => this.events.restore(eventId, event, acceptedAt),
      deletion: (kind, id, deletedAt) => this.deleteIds(kind, [id], deletedAt),
    });
    this.backlog = new Backlog(sql, this.deletions, this.setAside);
    this.lanes = new Lanes(sql);
    this.samples = new Samples(sql);
    this.fingerprints = new FingerprintStore(sql);
    this.audit = new AuditLog(sql);
    this.alerts = new AlertStore(sql);
    this.job = new JobInFlightStore(sql, transaction, {
      meta: this.meta,
      backlog: this.backlog,
      fingerprints: this.fingerprints,
    });
  }

  /** Run `fn` as one transaction. */
  transaction<T>(fn: () => T): T {
    return this.#storage.transactionSync(fn);
  }

  /** The database's size in bytes, as SQLite reports it. */
  get databaseSize(): number {
    return this.#storage.sql.databaseSize;
  }

  /** Merge accepted rows into the backlog (`Backlog.merge`), as one transaction. */
  merge(
    kind: BulkKind,
    rows: readonly (User | Company)[],
    receivedAt: number,
    now: number,
    late = false,
  ): number {
    return this.transaction(() => this.backlog.merge(kind, rows, receivedAt, now, late));
  }

  /**
   * Deletions forwarded before `before` (so Userpilot's daily job has run them since): what was
   * delivered of those ids after the delete was wiped by that job, so it is owed again. Up to
   * `limit` of them, in one transaction; returns how many were rechecked.
   */
  recheckDeleted(before: number, limit: number, now: number): number {
    return this.transaction(() => {
      const due = this.deletions.dueForRecheck(before, limit);
      for (const { seq, kind, id, deletedAt } of due) {
        this.backlog.oweAgainAfter(kind, id, deletedAt, now);
        this.deletions.rechecked(seq);
      }
      return due.length;
    });
  }

  /**
   * Deletions accepted at `deletedAt`: record them (a repeat is ignored), drop every value and
   * event of those ids accepted before, and hold what comes after until the delete is forwarded.
   * Returns how many were new.
   */
  deleteIds(kind: BulkKind, ids: readonly string[], deletedAt: number): number {
    return this.transaction(() => {
      let recorded = 0;
      for (const id of ids) {
        if (!this.deletions.add(kind, id, deletedAt)) continue;
        recorded++;
        // Userpilot will not have the profile: whatever comes next is sent whole.
        this.fingerprints.forget(kind, [id]);
        if (kind === "users") this.events.forget(id, deletedAt);
        this.backlog.dropBefore(kind, id, deletedAt);
        this.setAside.dropBefore(kind, id, deletedAt);
      }
      return recorded;
    });
  }
}
