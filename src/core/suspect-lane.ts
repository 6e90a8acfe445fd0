import type { BulkKind } from "./build-requests.ts";
import { mergeRow, rowId } from "./coalesce.ts";
import { JobRows, type PendingRow } from "./fresh-lane.ts";
import { suspectBatchSize } from "./suspects.ts";
import { utf8Length } from "./utf8.ts";

/**
 * Rows of jobs that failed or were refused, waiting to go again in smaller jobs (see
 * `suspects.ts`), and the ids among them. A suspect is older than every fresh row still to go
 * (fresh rows leave their lane in stream order, and only rows that left it become suspects), so a
 * fresh row with a suspect's id must not overtake it: it joins the suspect instead.
 */
export class SuspectLane {
  #rows: PendingRow[] = [];
  readonly #byId = new Map<string, PendingRow>();

  get size(): number {
    return this.#rows.length;
  }

  /** Add rows at the back, or at the front (rows handed back after a 409 or a transient failure). */
  add(rows: readonly PendingRow[], front = false): void {
    this.#rows = front ? [...rows, ...this.#rows] : [...this.#rows, ...rows];
    for (const pending of rows) this.#byId.set(rowId(pending.row), pending);
  }

  /** The next suspects that may travel together, within the byte budget of one body. */
  take(maxRows: number, maxBytes: number, kind: BulkKind): JobRows {
    let count = suspectBatchSize(this.#rows.map((pending) => pending.limit), maxRows);
    // Suspects from different jobs may together outgrow one body; the first always goes.
    let bytes = kind.length + 6;
    for (let i = 0; i < count; i++) {
      bytes += utf8Length(JSON.stringify(this.#rows[i]!.row)) + 1;
      if (i > 0 && bytes > maxBytes) {
        count = i;
        break;
      }
    }
    const rows = this.#rows.splice(0, count);
    for (const pending of rows) this.#byId.delete(rowId(pending.row));
    return JobRows.of(kind, rows);
  }

  /**
   * Merge each fresh row whose id is a suspect's into that suspect (later values win, as always),
   * and return the rows that still go on their own and those that joined a suspect.
   */
  absorb(fresh: readonly PendingRow[]): { kept: PendingRow[]; joined: PendingRow[] } {
    const kept: PendingRow[] = [];
    const joined: PendingRow[] = [];
    for (const pending of fresh) {
      const suspect = this.#byId.get(rowId(pending.row));
      if (suspect === undefined) {
        kept.push(pending);
      } else {
        suspect.row = mergeRow(suspect.row, pending.row);
        joined.push(pending);
      }
    }
    return { kept, joined };
  }
}
