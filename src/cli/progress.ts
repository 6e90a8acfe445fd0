import type { BulkKind } from "../../mod.ts";
import type { LocationKind } from "./readers/index.ts";
import type { LocatedIssue } from "./rows.ts";

/** Running totals of a run. */
export interface Counters {
  /** Input rows read, good or bad. */
  rowsRead: number;
  rowsRejected: number;
  /** Good rows folded into an earlier row with the same id (within a window). */
  rowsMerged: number;
  /** Rows in the chunks planned so far, sent or not. */
  rowsPlanned: number;
  /** Rows in chunks Userpilot accepted a job for. */
  rowsSubmitted: number;
  /** Rows Userpilot reports processed. */
  rowsProcessed: number;
  /** Rows in chunks an earlier run already delivered (`--resume`). */
  rowsSkipped: number;
  /** Rows left out because the last completed run delivered them as they are (`--state`). */
  rowsUnchanged: number;
  /** The properties (metadata keys and companies) of those rows. */
  propertiesUnchanged: number;
  /** Jobs completed (dry run: jobs that would be sent). */
  jobs: number;
  /** Bodies the gateway accepted (`--ingest-url`). */
  requests: number;
  bytesRead: number;
  /** The input's size, when it is a file. */
  bytesTotal: number | undefined;
  /** The whole input has been read. */
  readDone: boolean;
}

/** A fresh set of counters. */
export function newCounters(bytesTotal: number | undefined): Counters {
  return {
    rowsRead: 0,
    rowsRejected: 0,
    rowsMerged: 0,
    rowsPlanned: 0,
    rowsSubmitted: 0,
    rowsProcessed: 0,
    rowsSkipped: 0,
    rowsUnchanged: 0,
    propertiesUnchanged: 0,
    jobs: 0,
    requests: 0,
    bytesRead: 0,
    bytesTotal,
    readDone: false,
  };
}

/** What just happened: a window was read, a job was accepted, polled or completed. */
export type ProgressEvent = "read" | "submitted" | "processing" | "completed";

/** How a run ended. */
export type RunStatus = "completed" | "rejected" | "failed" | "interrupted";

/** The last word of a run. */
export interface Summary {
  readonly status: RunStatus;
  readonly exitCode: number;
  readonly error?: string | undefined;
  readonly report?: string | undefined;
  readonly resume?: string | undefined;
}

/** Where rows go: to Userpilot directly, or through the gateway (`--ingest-url`); and its URL. */
export interface Destination {
  readonly via: "userpilot" | "gateway";
  readonly url: string;
}

/** `tty`: one redrawn line on stderr; `plain`: a line now and then; `json`: NDJSON on stdout. */
export type ProgressMode = "tty" | "plain" | "json";

/** Options of {@link Progress}. */
export interface ProgressOptions {
  readonly mode: ProgressMode;
  readonly kind: BulkKind;
  readonly dryRun: boolean;
  readonly location: LocationKind;
  /** Default: Userpilot's US host. */
  readonly destination?: Destination | undefined;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly now?: (() => number) | undefined;
}

// Human output shows the first rejected rows; the rest are counted (and in --report).
const SHOWN_REJECTS = 20;
const REDRAW_MS = 100;
const JSON_POLL_MS = 1000;
const PLAIN_MS = 10_000;

const count = (n: number): string => n.toLocaleString("en-US");

/** `3h 05m`, `4m 10s`, `12s`. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  return m > 0 ? `${m}m ${String(s).padStart(2, "0")}s` : `${s}s`;
}

/**
 * Tells a person (or a program, with `--json`) how a run is going: rows read, rejected,
 * submitted and processed by Userpilot, the processing rate and an ETA at that rate. Human
 * output goes to stderr (one redrawn line on a TTY, occasional plain lines otherwise), so stdout
 * stays clean; `--json` writes NDJSON progress, rejected rows and a summary to stdout.
 *
 * @example
 * ```ts
 * const progress = new Progress({ mode: "tty", kind: "users", dryRun: false, location: "line",
 *   stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
 * progress.update("read", counters);
 * ```
 */
export class Progress {
  readonly #options: ProgressOptions;
  readonly #destination: Destination;
  readonly #now: () => number;
  readonly #started: number;
  #sendingSince: number | undefined;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #lastJsonPoll = Number.NEGATIVE_INFINITY;
  #drawn = false;
  #shown = 0;

  constructor(options: ProgressOptions) {
    this.#options = options;
    this.#destination = options.destination ?? { via: "userpilot", url: "https://analytex.userpilot.io" };
    this.#now = options.now ?? Date.now;
    this.#started = this.#now();
  }

  /** Report an event; output is throttled except for completed jobs. */
  update(event: ProgressEvent, counters: Counters, jobId?: string): void {
    const now = this.#now();
    if (event === "submitted") this.#sendingSince ??= now;
    const { mode } = this.#options;
    if (mode === "json") {
      if (event === "processing" && now - this.#lastJsonPoll < JSON_POLL_MS) return;
      if (event === "processing") this.#lastJsonPoll = now;
      this.#json({
        type: "progress",
        event,
        ...(jobId === undefined ? {} : { jobId }),
        ...this.#figures(counters),
      });
      return;
    }
    const due = now - this.#lastDraw >= (mode === "tty" ? REDRAW_MS : PLAIN_MS);
    if (!due && event !== "completed") return;
    this.#lastDraw = now;
    if (mode === "tty") {
      this.#options.stderr(`\r\x1b[2K${this.#line(counters)}`);
      this.#drawn = true;
    } else {
      this.#options.stderr(`${this.#line(counters)}\n`);
    }
  }

  /** A message for people (a retry, a wait); in JSON mode a `note` line. */
  note(message: string): void {
    if (this.#options.mode === "json") this.#json({ type: "note", message });
    else this.#say(message);
  }

  /** Rejected rows: the first few are shown to people, every one is a JSON line. */
  rejected(issues: readonly LocatedIssue[]): void {
    const { location } = this.#options;
    for (const issue of issues) {
      const id = issue.key === undefined ? {} : { id: issue.key };
      if (this.#options.mode === "json") {
        this.#json({
          type: "rejected",
          ...id,
          [location]: issue.at,
          path: issue.path,
          message: issue.message,
        });
        continue;
      }
      this.#shown++;
      if (this.#shown <= SHOWN_REJECTS) {
        const where = issue.path === "" ? "" : `${issue.path}: `;
        const which = issue.key === undefined ? "" : issue.key === null ? " (no id)" : ` (id ${issue.key})`;
        this.#say(`rejected ${location} ${issue.at}${which}: ${where}${issue.message}`);
      } else if (this.#shown === SHOWN_REJECTS + 1) {
        this.#say("more rows rejected; the summary counts them and --report lists them all");
      }
    }
  }

  /** The end of the run: the summary, and the error as one line on stderr. */
  finish(summary: Summary, counters: Counters): void {
    const elapsedMs = this.#now() - this.#started;
    if (this.#options.mode === "json") {
      this.#json({
        type: "summary",
        status: summary.status,
        exitCode: summary.exitCode,
        dryRun: this.#options.dryRun,
        kind: this.#options.kind,
        via: this.#destination.via,
        destination: this.#destination.url,
        ...this.#figures(counters),
        elapsedMs,
        ...(summary.report === undefined ? {} : { report: summary.report }),
        ...(summary.resume === undefined ? {} : { resume: summary.resume }),
        ...(summary.error === undefined ? {} : { error: summary.error }),
      });
    } else if (counters.rowsRead > 0 || summary.error === undefined) {
      // A run that failed before reading a row has nothing to sum up beyond its error.
      this.#clear();
      this.#options.stderr(`${this.#closing(summary, counters, elapsedMs)}\n`);
    }
    if (summary.error !== undefined) this.#options.stderr(`userpilot-bulk: ${summary.error}\n`);
  }

  #closing(summary: Summary, c: Counters, elapsedMs: number): string {
    const took = formatDuration(elapsedMs);
    const read = `${count(c.rowsRead)} ${this.#options.kind === "users" ? "user" : "company"} rows read, ` +
      `${count(c.rowsRejected)} rejected, ${count(c.rowsMerged)} merged by id`;
    const skipped = (c.rowsSkipped > 0 ? `; ${count(c.rowsSkipped)} already sent by an earlier run` : "") +
      (c.rowsUnchanged > 0
        ? `; ${count(c.rowsUnchanged)} unchanged rows (${count(c.propertiesUnchanged)} properties) left out`
        : "");
    const report = summary.report !== undefined && c.rowsRejected > 0
      ? `\nRejected rows are listed in ${summary.report}`
      : "";
    if (this.#options.dryRun) {
      const verb = summary.status === "failed" || summary.status === "interrupted"
        ? "Stopped"
        : "Dry run done";
      return `${verb} in ${took}: ${read}; ${count(c.rowsPlanned)} rows in ${
        count(c.jobs)
      } job(s) would be sent${skipped}${report}`;
    }
    const { via, url } = this.#destination;
    const sent = via === "gateway"
      ? `${count(c.rowsSubmitted)} rows accepted by the gateway at ${url} in ${
        count(c.requests)
      } request(s)${skipped}; ` +
        "it delivers them to Userpilot (watch its /v1/status)"
      : `${count(c.rowsProcessed)} rows processed by Userpilot in ${
        count(c.jobs)
      } completed job(s)${skipped}, sent directly to ${url}`;
    const ended = summary.status === "failed" || summary.status === "interrupted" ? "Stopped" : "Done";
    const again = summary.resume !== undefined && ended === "Stopped"
      ? `\nRun the same command again (same --resume ${summary.resume}) to continue`
      : "";
    return `${ended} in ${took}: ${read}; ${sent}${report}${again}`;
  }

  #figures(c: Counters): Record<string, number | boolean | null> {
    const { ratePerMinute, etaMs } = this.#rate(c);
    return {
      rowsRead: c.rowsRead,
      rowsRejected: c.rowsRejected,
      rowsMerged: c.rowsMerged,
      rowsPlanned: c.rowsPlanned,
      rowsSubmitted: c.rowsSubmitted,
      rowsProcessed: c.rowsProcessed,
      rowsSkipped: c.rowsSkipped,
      rowsUnchanged: c.rowsUnchanged,
      propertiesUnchanged: c.propertiesUnchanged,
      jobs: c.jobs,
      requests: c.requests,
      bytesRead: c.bytesRead,
      bytesTotal: c.bytesTotal ?? null,
      readDone: c.readDone,
      ratePerMinute: ratePerMinute === undefined ? null : Math.round(ratePerMinute),
      etaSeconds: etaMs === undefined ? null : Math.round(etaMs / 1000),
    };
  }

  /** Userpilot's observed processing rate, and the time left at that rate. */
  #rate(c: Counters): { ratePerMinute: number | undefined; etaMs: number | undefined } {
    const elapsed = this.#sendingSince === undefined ? 0 : this.#now() - this.#sendingSince;
    if (elapsed <= 0 || c.rowsProcessed === 0) return { ratePerMinute: undefined, etaMs: undefined };
    const perMs = c.rowsProcessed / elapsed;
    // Until the input is read to its end, its total is estimated from the share of bytes read.
    const planned = c.rowsPlanned - c.rowsSkipped;
    const total = c.readDone
      ? planned
      : c.bytesTotal !== undefined && c.bytesRead > 0
      ? (planned * c.bytesTotal) / c.bytesRead
      : undefined;
    const etaMs = total === undefined ? undefined : Math.max(0, total - c.rowsProcessed) / perMs;
    return { ratePerMinute: perMs * 60_000, etaMs };
  }

  #line(c: Counters): string {
    const share = c.bytesTotal !== undefined && c.bytesTotal > 0 && !c.readDone
      ? ` (${Math.floor((100 * c.bytesRead) / c.bytesTotal)}%)`
      : "";
    const parts = [
      `${this.#options.kind}${this.#options.dryRun ? " (dry run)" : ""}`,
      `read ${count(c.rowsRead)}${share}`,
      `rejected ${count(c.rowsRejected)}`,
    ];
    if (c.rowsUnchanged > 0) parts.push(`unchanged ${count(c.rowsUnchanged)}`);
    if (this.#options.dryRun) {
      parts.push(`to send ${count(c.rowsPlanned)}`);
    } else if (this.#destination.via === "gateway") {
      parts.push(`accepted by the gateway ${count(c.rowsSubmitted)}`);
      if (c.rowsSkipped > 0) parts.push(`skipped ${count(c.rowsSkipped)}`);
    } else {
      const { ratePerMinute, etaMs } = this.#rate(c);
      parts.push(`submitted ${count(c.rowsSubmitted)}`, `processed ${count(c.rowsProcessed)}`);
      if (c.rowsSkipped > 0) parts.push(`skipped ${count(c.rowsSkipped)}`);
      if (ratePerMinute !== undefined) parts.push(`${count(Math.round(ratePerMinute))} rows/min`);
      if (etaMs !== undefined) parts.push(`ETA ${formatDuration(etaMs)}`);
    }
    return parts.join(" | ");
  }

  #say(message: string): void {
    this.#clear();
    this.#options.stderr(`${message}\n`);
  }

  #clear(): void {
    if (this.#drawn) this.#options.stderr("\r\x1b[2K");
    this.#drawn = false;
    this.#lastDraw = Number.NEGATIVE_INFINITY; // redraw at the next update
  }

  #json(value: Record<string, unknown>): void {
    this.#options.stdout(`${JSON.stringify(value)}\n`);
  }
}
