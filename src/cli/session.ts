import type { BulkTotals, PlannedWindow, RowIssue } from "../../mod.ts";
import type { Counters, Progress } from "./progress.ts";
import type { RejectReport } from "./report.ts";
import type { RowStream } from "./rows.ts";

/** What one run reads and reports through: its counters, progress, report and row stream. */
export interface SessionParts {
  readonly counters: Counters;
  readonly progress: Progress;
  readonly report: RejectReport;
  readonly stream: RowStream;
  /** Bytes of the input read so far. */
  readonly bytesRead: () => number;
}

/**
 * The run's books: every rejected row reported (with the readers' own issues, in input order),
 * and the counters kept from windows the CLI planned itself (a dry run, rows skipped on resume,
 * the gateway) or from the core's running totals (a direct run).
 */
export class Session {
  readonly counters: Counters;
  readonly progress: Progress;
  readonly stream: RowStream;
  readonly #report: RejectReport;
  readonly #bytesRead: () => number;
  /** Rows the core's validation refused, and rows set aside. */
  #refused = 0;
  /** The counters before the core's totals start (rows this run counted itself). */
  #base: {
    refused: number;
    merged: number;
    planned: number;
    submitted: number;
    processed: number;
    jobs: number;
  } = { refused: 0, merged: 0, planned: 0, submitted: 0, processed: 0, jobs: 0 };

  constructor(parts: SessionParts) {
    this.counters = parts.counters;
    this.progress = parts.progress;
    this.stream = parts.stream;
    this.#report = parts.report;
    this.#bytesRead = parts.bytesRead;
  }

  /** A window planned by the CLI (`offset`: where its stream starts): count it and report its issues. */
  window(window: PlannedWindow, offset: number): void {
    let planned = 0;
    for (const chunk of window.chunks) planned += chunk.rows.length;
    this.#refused += window.rejectedRows;
    this.counters.rowsMerged += window.rows - window.rejectedRows - planned;
    this.counters.rowsPlanned += planned;
    this.rejected(window.rejected, offset);
    this.progress.update("read", this.counters);
  }

  /** From here on the core counts: its totals add to what was counted so far. */
  begin(): void {
    const c = this.counters;
    this.#base = {
      refused: this.#refused,
      merged: c.rowsMerged,
      planned: c.rowsPlanned,
      submitted: c.rowsSubmitted,
      processed: c.rowsProcessed,
      jobs: c.jobs,
    };
  }

  /** The core's running totals. */
  totals(totals: BulkTotals): void {
    const c = this.counters;
    const base = this.#base;
    this.#refused = base.refused + totals.rejected + totals.setAside;
    c.rowsMerged = base.merged + totals.merged;
    c.rowsPlanned = base.planned + totals.planned;
    c.rowsSubmitted = base.submitted + totals.submitted;
    c.rowsProcessed = base.processed + totals.processed;
    c.jobs = base.jobs + totals.jobs;
    this.sync();
  }

  /** Report the core's issues (indexes counted from `offset`) with the readers' issues so far. */
  rejected(issues: readonly RowIssue[], offset: number): void {
    const located = this.stream.issues(issues, offset);
    this.#report.write(located);
    this.progress.rejected(located);
    this.sync();
  }

  /** A row Userpilot would not take even alone: not delivered, so reported like a rejected row. */
  setAside(issue: RowIssue, offset: number): void {
    this.stream.undelivered(offset + issue.index);
    const located = [this.stream.located(offset + issue.index, issue)];
    this.#report.write(located);
    this.progress.rejected(located);
  }

  /** Bring the read and rejected counts up to date. */
  sync(): void {
    this.counters.rowsRead = this.stream.recordsRead;
    this.counters.rowsUnchanged = this.stream.unchanged.rows;
    this.counters.propertiesUnchanged = this.stream.unchanged.properties;
    this.counters.rowsRejected = this.stream.unreadable + this.#refused;
    this.counters.bytesRead = this.#bytesRead();
  }
}
