/** What `GET /v1/status` and the operator's page show of the delivery object. @module */
import type { BulkKind } from "../../core/build-requests.ts";
import type { Lane } from "../../core/delivery-policy.ts";
import type { BacklogCounts, DeliveryStore, Observation, SetAsideRow, StoredSlot } from "../store/index.ts";
import type { AlertType } from "./alerts.ts";
import type { PacersStatus } from "./realtime.ts";

/** The status route's view: the backlog, the job in flight, the last error, rows set aside, the drain estimate. */
export interface DeliveryStatus extends BacklogCounts {
  job: {
    kind: BulkKind | null;
    lane: Lane;
    phase: "submitting" | "running";
    jobId: string | null;
    rows: number;
    submittedAt: string;
    status: string | null;
    completedRows: number | null;
  } | null;
  lastError: { message: string; at: string } | null;
  /** Jobs completed since the object was created. */
  jobsCompleted: number;
  /**
   * Jobs that ended without completing (failed at Userpilot, refused, past their allowance, or
   * unknown to it): their rows were tried again. Counted since this version.
   */
  jobsFailed: number;
  /** When the next submission may go, if delivery is backing off. */
  backingOffUntil: string | null;
  setAside: {
    /** Entries set aside now. */
    count: number;
    /** Entries ever set aside, including those since redriven, purged or expired. */
    total: number;
    /** The 20 latest, without their values (see `GET /v1/admin/set-aside`). */
    recent: Omit<SetAsideRow, "row">[];
  };
  /** Rows merged into the backlog since the object was created (before merging by id). */
  rowsReceived: number;
  /** Rows in completed jobs since counting began (a row sent in parts counts each part). */
  rowsDelivered: number;
  /** Rows left out of jobs because Userpilot already had every value (delta delivery). */
  rowsUnchanged: number;
  /** Properties left out of jobs because Userpilot already had the value (delta delivery). */
  propertiesUnchanged: number;
  /** Time to send the pending users and companies at `rowsPerMinute`. */
  estimatedDrainSeconds: number;
  rowsPerMinute: number;
  /** Events for Userpilot's track (pending in `pending.events`), sent one at a time. */
  events: {
    received: number;
    /** Events Userpilot's track accepted (since this version). */
    sent: number;
    /** Time to send the pending events at `perMinute`. */
    estimatedDrainSeconds: number;
    perMinute: number;
    lastError: { message: string; at: string } | null;
    backingOffUntil: string | null;
  };
  /** Deletions waiting to be forwarded (in `pending.deletions`). */
  deletions: {
    /** Deletions Userpilot accepted (since this version). */
    sent: number;
    lastError: { message: string; at: string } | null;
    backingOffUntil: string | null;
  };
  /**
   * Userpilot's answers to the object's requests (bulk jobs, polls, track, deletes) by status
   * class; `networkError`: requests it never answered (a network error, a timeout). Since this version.
   */
  userpilotAnswers: { "2xx": number; "3xx": number; "4xx": number; "5xx": number; networkError: number };
  /** Alert conditions raised and not yet cleared (`delivery/alerts.ts`), by type. */
  alerts: { active: AlertType[] };
}

/** What the status needs besides the store: the rates, and the time. */
export interface StatusContext {
  readonly rowsPerMinute: number;
  readonly trackPerMinute: number;
  readonly now: number;
}

/** Pending rows (users and companies; events and deletions are counted apart). */
const total = (pending: BacklogCounts["pending"]): number => pending.users + pending.companies;

const errorView = (error: { message: string; at: number } | null) =>
  error === null ? null : { message: error.message, at: new Date(error.at).toISOString() };

const waitView = (
  until: number,
  now: number,
): string | null => (until > now ? new Date(until).toISOString() : null);

/** The `completed_rows` Userpilot last reported for the job in flight, if it did. */
function completedRows(slot: StoredSlot): number | null {
  const value = slot.state.job?.lastSeen?.["completed_rows"];
  return typeof value === "number" ? value : null;
}

/**
 * The status of the backlog in `store`, with the job `slot` holds, at `now`.
 *
 * @example
 * ```ts
 * const status = statusOf(store, store.job.slot(initial), streams.pacers(), context);
 * ```
 */
export function statusOf(
  store: DeliveryStore,
  slot: StoredSlot,
  pacers: PacersStatus,
  { rowsPerMinute, trackPerMinute, now }: StatusContext,
): DeliveryStatus {
  const counts = store.lanes.counts();
  const { kind, state } = slot;
  const job = state.job;
  const backlog = total(counts.pending);
  return {
    ...counts,
    job: job === null ? null : {
      kind,
      lane: job.lane,
      phase: job.jobId === null ? "submitting" : "running",
      jobId: job.jobId,
      rows: job.rows,
      submittedAt: new Date(job.submittedAt).toISOString(),
      status: job.lastSeen?.status ?? null,
      completedRows: completedRows(slot),
    },
    lastError: errorView(state.lastError),
    jobsCompleted: state.completions,
    jobsFailed: store.meta.counter("jobsFailed"),
    backingOffUntil: waitView(state.notBefore, now),
    setAside: {
      count: store.setAside.count(),
      total: store.setAside.total(),
      recent: store.setAside.recent(20).map(({ row: _, ...rest }) => rest),
    },
    rowsReceived: store.meta.counter("rowsReceived"),
    rowsDelivered: store.meta.counter("rowsDelivered"),
    rowsUnchanged: store.meta.counter("rowsUnchanged"),
    propertiesUnchanged: store.meta.counter("propertiesUnchanged"),
    rowsPerMinute,
    estimatedDrainSeconds: Math.ceil((backlog / rowsPerMinute) * 60),
    events: {
      received: store.meta.counter("eventsReceived"),
      sent: store.meta.counter("eventsSent"),
      estimatedDrainSeconds: Math.ceil((counts.pending.events / trackPerMinute) * 60),
      perMinute: trackPerMinute,
      lastError: errorView(pacers.events.lastError),
      backingOffUntil: waitView(pacers.events.streak > 0 ? pacers.events.nextAt : 0, now),
    },
    deletions: {
      sent: store.meta.counter("deletionsSent"),
      lastError: errorView(pacers.deletions.lastError),
      backingOffUntil: waitView(pacers.deletions.streak > 0 ? pacers.deletions.nextAt : 0, now),
    },
    userpilotAnswers: {
      "2xx": store.meta.counter("answers2xx"),
      "3xx": store.meta.counter("answers3xx"),
      "4xx": store.meta.counter("answers4xx"),
      "5xx": store.meta.counter("answers5xx"),
      networkError: store.meta.counter("answersNetworkError"),
    },
    // The store keeps what `AlertMonitor.evaluate` raised: alert types only.
    alerts: { active: store.alerts.raised().map((alert) => alert.type as AlertType) },
  };
}

/**
 * What the chart samples: every pending row, and rows delivered with the running job's progress
 * counted as it goes, so a long job draws a slope rather than one step at its end.
 *
 * @example
 * ```ts
 * store.samples.record(now, () => observe(store, store.job.slot(initial)));
 * ```
 */
export function observe(store: DeliveryStore, slot: StoredSlot): Observation {
  return {
    pending: total(store.lanes.counts().pending),
    delivered: store.meta.counter("rowsDelivered") + (completedRows(slot) ?? 0),
  };
}
