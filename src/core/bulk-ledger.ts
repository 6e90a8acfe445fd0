import type { RowIssue } from "./errors.ts";
import type { JobRows, PendingRow, WindowRecord } from "./fresh-lane.ts";
import type { PlannedWindow } from "./windows.ts";

/** Running totals of a bulk call, in rows; every progress event after the first read carries them. */
export interface BulkTotals {
  /** Input rows read so far, good or bad. */
  readonly read: number;
  /** Rows refused by validation: never sent. */
  readonly rejected: number;
  /** Rows folded into an earlier row with the same id. */
  readonly merged: number;
  /** Rows to send: read, less rejected and merged. */
  readonly planned: number;
  /** Planned rows in a job Userpilot accepted, each counted once however often it was sent. */
  readonly submitted: number;
  /** Rows Userpilot has processed: those of completed jobs, and the running job's `completed_rows`. */
  readonly processed: number;
  /** Rows Userpilot would not take even alone (see the retry policy): not delivered. */
  readonly setAside: number;
  /** Jobs completed. */
  readonly jobs: number;
  /**
   * Every row of the input before this position is settled: delivered, rejected or set aside.
   * A script that stops can read its input again from here (Userpilot merges, so rows after it
   * that went already do no harm going again).
   */
  readonly checkpoint: number;
}

/**
 * The books of one bulk call: the totals, the issues kept for the result, and which windows of
 * the input still have rows on their way (for the checkpoint).
 */
export class BulkLedger {
  #read = 0;
  #rejected = 0;
  #merged = 0;
  #planned = 0;
  #submitted = 0;
  #settled = 0;
  #setAside = 0;
  #jobs = 0;
  /** `completed_rows` of the running job, as last polled. */
  running = 0;
  /** The first `maxIssues` validation issues, in input order. */
  readonly issues: RowIssue[] = [];
  issueCount = 0;
  readonly #maxIssues: number;
  /** Windows with rows still on their way, in input order (settled ones leave from the front). */
  #open: WindowRecord[] = [];
  #end = 0;

  constructor(maxIssues: number) {
    this.#maxIssues = maxIssues;
  }

  /** A window was read and planned. */
  window(window: PlannedWindow): WindowRecord {
    let planned = 0;
    for (const chunk of window.chunks) planned += chunk.rows.length;
    this.#read += window.rows;
    this.#rejected += window.rejectedRows;
    this.#planned += planned;
    this.#merged += window.rows - window.rejectedRows - planned;
    this.issueCount += window.issueCount;
    for (const issue of window.rejected) {
      if (this.issues.length >= this.#maxIssues) break;
      this.issues.push(issue);
    }
    const record: WindowRecord = { start: window.start, end: window.start + window.rows, pending: planned };
    this.#end = record.end;
    if (planned > 0) this.#open.push(record);
    return record;
  }

  /** Accepted by Userpilot in a job. */
  submitted(job: JobRows): void {
    job.accepted = true;
    if (job.chunk !== undefined) {
      this.#submitted += job.count; // a whole chunk goes for the first time
      return;
    }
    for (const pending of job.rows) {
      if (!pending.submitted) this.#submitted++;
      pending.submitted = true;
    }
  }

  /** Delivered in a completed job. */
  completed(job: JobRows): void {
    this.#jobs++;
    this.#settled += job.count;
    this.running = 0;
    this.#leave(job);
  }

  /** Fresh rows that joined an earlier suspect with their id: they travel with it now. */
  joined(rows: readonly PendingRow[]): void {
    this.#merged += rows.length;
    this.#planned -= rows.length;
    this.#leave(rows);
  }

  /** A row set aside: settled, not delivered. */
  setAside(pending: PendingRow): void {
    this.#setAside++;
    this.#leave([pending]);
  }

  /** Where the checkpoint will be once a job's rows are settled. */
  through(job: JobRows): number {
    const leaving = perWindow(job);
    for (const window of this.#open) {
      if (window.pending > (leaving.get(window) ?? 0)) return window.start;
    }
    return this.#end;
  }

  get totals(): BulkTotals {
    return {
      read: this.#read,
      rejected: this.#rejected,
      merged: this.#merged,
      planned: this.#planned,
      submitted: this.#submitted,
      processed: this.#settled + this.running,
      setAside: this.#setAside,
      jobs: this.#jobs,
      checkpoint: this.#open.find((window) => window.pending > 0)?.start ?? this.#end,
    };
  }

  #leave(rows: JobRows | readonly PendingRow[]): void {
    for (const [window, count] of perWindow(rows)) window.pending -= count;
    let settled = 0;
    while (settled < this.#open.length && this.#open[settled]!.pending === 0) settled++;
    if (settled > 0) this.#open = this.#open.slice(settled);
  }
}

/** How many rows of each window a job (or a list of rows) holds. */
function perWindow(rows: JobRows | readonly PendingRow[]): Map<WindowRecord, number> {
  const chunk = "chunk" in rows ? rows.chunk : undefined;
  if (chunk !== undefined) return new Map([[chunk.window, chunk.indexes.length]]);
  const counts = new Map<WindowRecord, number>();
  for (const pending of "chunk" in rows ? rows.rows : rows) {
    counts.set(pending.window, (counts.get(pending.window) ?? 0) + 1);
  }
  return counts;
}
