import type { BulkKind } from "../../core/build-requests.ts";
import type { Lane } from "../../core/delivery-policy.ts";
import type { Company, User } from "../../core/schemas.ts";
import { pendingRow } from "./row-fields.ts";
import type { Sql } from "../sql.ts";

/** A pending row ready to send, with the field times it carries. */
export interface Candidate {
  readonly id: string;
  readonly row: User | Company;
  readonly carried: Readonly<Record<string, number>>;
  /**
   * The row's revision when it was chosen, or -1 when the job carries only some of its pending
   * fields: an unchanged revision at completion means the job carried every pending field.
   */
  readonly rev: number;
  /** The most rows a job carrying this row may hold (suspects only). */
  readonly limit: number;
}

/** The backlog as `GET /v1/status` shows it. */
export interface BacklogCounts {
  pending: { users: number; companies: number; events: number; deletions: number };
  /** Of the users and companies, rows in the suspect lane (from failed or refused jobs). */
  suspects: number;
  /** The users and companies pending, per lane: fresh rows, and suspects. */
  pendingByLane: Record<"users" | "companies", { fresh: number; suspect: number }>;
  oldestPendingAt: string | null;
}

/** Rows of an id whose deletion is not yet forwarded wait for it (see `DeletionStore`). */
const NOT_HELD =
  "NOT EXISTS (SELECT 1 FROM deletions d WHERE d.kind = rows.kind AND d.id = rows.id AND d.forwarded_at IS NULL)";

/**
 * Reads of the two lanes of pending rows: fresh rows, and suspects from failed jobs (rows with a
 * `suspect_limit`). Every query is served by an index, and the counts are kept by triggers
 * (`lane_counts`), so a backlog of millions answers at once.
 */
export class Lanes {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Which lanes have rows waiting. */
  ready(): { fresh: boolean; suspect: boolean } {
    const has = (where: string) =>
      this.#sql.exec(`SELECT 1 FROM rows WHERE ${where} LIMIT 1`).toArray().length > 0;
    return {
      fresh: has(`pending_since IS NOT NULL AND suspect_limit IS NULL AND ${NOT_HELD}`),
      suspect: has(`pending_since IS NOT NULL AND suspect_limit IS NOT NULL AND ${NOT_HELD}`),
    };
  }

  /**
   * Up to `maxRows` rows of a lane, of one kind: fresh rows of the kind that has waited longest,
   * oldest first; or suspects in the order they last failed, of the first one's kind.
   */
  candidates(lane: Lane, maxRows: number): { kind: BulkKind; candidates: Candidate[] } | undefined {
    const where = `pending_since IS NOT NULL AND suspect_limit IS ${
      lane === "fresh" ? "" : "NOT "
    }NULL AND ${NOT_HELD}`;
    const order = lane === "fresh" ? "pending_since" : "suspect_at";
    const kind = this.#sql.exec<{ kind: BulkKind }>(
      `SELECT kind FROM rows WHERE ${where} ORDER BY ${order} LIMIT 1`,
    ).toArray()[0]?.kind;
    const query = `SELECT id, fields, sent, rev, suspect_limit FROM rows
      WHERE kind = ? AND ${where} ORDER BY ${order}, id LIMIT ?`;
    if (kind === undefined) return undefined;
    const candidates = this.#sql
      .exec<{ id: string; fields: string; sent: string; rev: number; suspect_limit: number | null }>(
        query,
        kind,
        maxRows,
      )
      .toArray()
      .map(({ id, fields, sent, rev, suspect_limit }) => {
        const { row, carried, whole } = pendingRow(kind, id, JSON.parse(fields), JSON.parse(sent));
        return { id, row, carried, rev: whole ? rev : -1, limit: suspect_limit ?? Number.POSITIVE_INFINITY };
      });
    return { kind, candidates };
  }

  /** Pending rows per kind, suspects among them, and the oldest pending time: read, not counted. */
  counts(): BacklogCounts {
    const pending = { users: 0, companies: 0, events: 0, deletions: 0 };
    const pendingByLane = { users: { fresh: 0, suspect: 0 }, companies: { fresh: 0, suspect: 0 } };
    let suspects = 0;
    for (
      const { kind, lane, n } of this.#sql.exec<{ kind: keyof typeof pending; lane: string; n: number }>(
        "SELECT kind, lane, n FROM lane_counts",
      )
    ) {
      pending[kind] += n;
      if (lane === "suspect") suspects += n;
      if ((kind === "users" || kind === "companies") && (lane === "fresh" || lane === "suspect")) {
        pendingByLane[kind][lane] += n;
      }
    }
    const oldest = this.#sql.exec<{ at: number | null }>(
      "SELECT min(pending_since) AS at FROM rows WHERE pending_since IS NOT NULL",
    ).one().at;
    return {
      pending,
      suspects,
      pendingByLane,
      oldestPendingAt: oldest === null ? null : new Date(oldest).toISOString(),
    };
  }
}
