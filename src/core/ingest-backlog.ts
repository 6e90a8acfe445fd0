/**
 * What an ingest client holds between a call and its send, in call order, and the writes it
 * becomes. Identifies and events merge into runs; a delete cuts the run, so everything called
 * before a delete reaches the endpoint before it, and everything called after, after it (an
 * identify queued behind a delete must never be deleted by it, nor re-create what it deleted).
 * @module
 */
import type { BulkKind } from "./build-requests.ts";
import type { RowIssue } from "./errors.ts";
import type { TrackEvent } from "./event-schema.ts";
import type { IngestWrite } from "./ingest-post.ts";
import { INGEST_MESSAGE_BYTES, MAX_ROWS_PER_REQUEST } from "./limits.ts";
import { planChunks } from "./build-requests.ts";
import type { Company, User } from "./schemas.ts";

/** A run of identifies and events, or of deletes, in call order. */
export type IngestSegment =
  | {
    readonly type: "writes";
    readonly users: User[];
    readonly companies: Company[];
    readonly events: TrackEvent[];
  }
  | { readonly type: "deletes"; readonly users: string[]; readonly companies: string[] };

/** One write to send, with what it carries (for the counts and the messages). */
export interface PlannedWrite {
  readonly write: IngestWrite;
  /** Rows, events or ids it carries. */
  readonly items: number;
  /** `"users"`, `"companies"`, `"events"`, `"user deletions"`, `"company deletions"`. */
  readonly what: string;
}

/** The calls waiting to be sent, as segments in call order. */
export class IngestBacklog {
  #segments: IngestSegment[] = [];
  #size = 0;

  /** Calls waiting: rows, events and ids. */
  get size(): number {
    return this.#size;
  }

  addRow(kind: BulkKind, row: User | Company): void {
    const writes = this.#writes();
    if (kind === "users") writes.users.push(row as User);
    else writes.companies.push(row as Company);
    this.#size++;
  }

  addEvent(event: TrackEvent): void {
    this.#writes().events.push(event);
    this.#size++;
  }

  addDeletes(kind: BulkKind, ids: readonly string[]): void {
    let last = this.#segments.at(-1);
    if (last?.type !== "deletes") this.#segments.push(last = { type: "deletes", users: [], companies: [] });
    last[kind].push(...ids);
    this.#size += ids.length;
  }

  /** Everything waiting, leaving nothing. */
  take(): { segments: IngestSegment[]; size: number } {
    const taken = { segments: this.#segments, size: this.#size };
    this.#segments = [];
    this.#size = 0;
    return taken;
  }

  #writes(): Extract<IngestSegment, { type: "writes" }> {
    let last = this.#segments.at(-1);
    if (last?.type !== "writes") {
      this.#segments.push(last = { type: "writes", users: [], companies: [], events: [] });
    }
    return last;
  }
}

/**
 * The writes one segment becomes, in order: identifies (merged by id, `maxRows` rows and
 * `maxBytes` a body) before events, so an event's user is known first; deletes of each kind, at
 * most 10,000 distinct ids a request. `rejected` holds merged rows too large for the endpoint.
 */
export function plannedWrites(
  segment: IngestSegment,
  maxRows: number,
  maxBytes: number,
): { writes: PlannedWrite[]; rejected: RowIssue[] } {
  const writes: PlannedWrite[] = [];
  const rejected: RowIssue[] = [];
  if (segment.type === "deletes") {
    for (const kind of ["users", "companies"] as const) {
      const ids = [...new Set(segment[kind])];
      for (let start = 0; start < ids.length; start += MAX_ROWS_PER_REQUEST) {
        const part = ids.slice(start, start + MAX_ROWS_PER_REQUEST);
        writes.push({
          write: { method: "DELETE", path: `/v1/${kind}`, body: JSON.stringify({ [kind]: part }) },
          items: part.length,
          what: kind === "users" ? "user deletions" : "company deletions",
        });
      }
    }
    return { writes, rejected };
  }
  for (const kind of ["users", "companies"] as const) {
    if (segment[kind].length === 0) continue;
    // The rows were validated when called; merging may make one too large for the endpoint.
    const plan = planChunks(segment[kind], {
      kind,
      maxRows,
      maxBytes,
      maxRowBytes: INGEST_MESSAGE_BYTES,
      maxIssues: Number.POSITIVE_INFINITY,
    });
    rejected.push(...plan.rejected);
    for (const chunk of plan.chunks) {
      writes.push({
        write: { method: "POST", path: `/v1/${kind}/bulk_identify`, body: chunk.body },
        items: chunk.rows.length,
        what: kind,
      });
    }
  }
  for (const event of segment.events) {
    writes.push({
      write: { method: "POST", path: "/v1/track", body: JSON.stringify(event) },
      items: 1,
      what: "events",
    });
  }
  return { writes, rejected };
}
