import type { BulkKind } from "../core/build-requests.ts";
import type { Lane } from "../core/delivery-policy.ts";
import type { BacklogCounts, PendingStore, StoredSlot } from "./pending-store.ts";
import type { Observation } from "./samples.ts";
import type { SetAsideRow } from "./set-aside-store.ts";

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
  /** When the next submission may go, if delivery is backing off. */
  backingOffUntil: string | null;
  setAside: {
    count: number;
    /** The 20 latest, without their values (see `GET /v1/admin/set-aside`). */
    recent: Omit<SetAsideRow, "row">[];
  };
  /** Rows merged into the backlog since the object was created (before merging by id). */
  rowsReceived: number;
  /** Rows in completed jobs since counting began (a row sent in parts counts each part). */
  rowsDelivered: number;
  estimatedDrainSeconds: number;
  rowsPerMinute: number;
}

/** Pending rows of every kind (users and companies; events too, once the gateway queues them). */
const total = (pending: BacklogCounts["pending"]): number =>
  Object.values(pending).reduce((sum, n) => sum + n, 0);

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
 * const status = describeStatus(store, store.slot(initial), 1_200, Date.now());
 * ```
 */
export function describeStatus(
  store: PendingStore,
  slot: StoredSlot,
  rowsPerMinute: number,
  now: number,
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
    lastError: state.lastError === null
      ? null
      : { message: state.lastError.message, at: new Date(state.lastError.at).toISOString() },
    jobsCompleted: state.completions,
    backingOffUntil: state.notBefore > now ? new Date(state.notBefore).toISOString() : null,
    setAside: {
      count: store.setAside.count(),
      recent: store.setAside.recent(20).map(({ row: _, ...rest }) => rest),
    },
    rowsReceived: Number(store.meta("rows_received") ?? "0"),
    rowsDelivered: store.rowsDelivered(),
    rowsPerMinute,
    estimatedDrainSeconds: Math.ceil((backlog / rowsPerMinute) * 60),
  };
}

/**
 * What the chart samples: every pending row, and rows delivered with the running job's progress
 * counted as it goes, so a long job draws a slope rather than one step at its end.
 *
 * @example
 * ```ts
 * store.samples.record(Date.now(), () => observe(store, store.slot(initial)));
 * ```
 */
export function observe(store: PendingStore, slot: StoredSlot): Observation {
  return {
    pending: total(store.lanes.counts().pending),
    delivered: store.rowsDelivered() + (completedRows(slot) ?? 0),
  };
}
