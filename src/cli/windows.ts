import { type BulkKind, type Chunk, createChunkPlanner } from "../../mod.ts";
import type { InputRecord } from "./records.ts";

/** A rejected row's problem, located by line or element index. Never holds the value. */
export interface LocatedIssue {
  readonly at: number;
  readonly path: string;
  readonly message: string;
}

/** One window of input rows, validated, merged by id and cut into chunks by the core. */
export interface Window {
  /** Input rows in the window, good or bad. */
  readonly rows: number;
  readonly chunks: readonly Chunk[];
  /** Every problem, in input order (a row may have several). */
  readonly issues: readonly LocatedIssue[];
  /** Rows not sent because of a problem. */
  readonly rejectedRows: number;
  /** Good rows folded into an earlier row with the same id. */
  readonly mergedRows: number;
  /** Where each row the chunks index came from (a line, or an element), by that index. */
  readonly positions: readonly number[];
}

/** How rows are windowed and chunked. */
export interface WindowOptions {
  readonly kind: BulkKind;
  /** Rows per window and most rows per chunk. */
  readonly maxRows: number;
  readonly maxBytes?: number | undefined;
}

/**
 * One window being read: each row goes to the core's planner as it arrives (only its validated
 * copy is kept, not the parsed input), rows the reader could not read go straight to the issues.
 */
class WindowBuilder {
  readonly #planner;
  #rows = 0;
  #positions: number[] = [];
  #issues: LocatedIssue[] = [];

  constructor(options: WindowOptions) {
    this.#planner = createChunkPlanner({
      kind: options.kind,
      maxRows: options.maxRows,
      maxBytes: options.maxBytes,
      // The report names every rejected row (a row's own issues stay bounded by the schemas).
      maxIssues: Number.POSITIVE_INFINITY,
    });
  }

  get rows(): number {
    return this.#rows;
  }

  add(record: InputRecord): void {
    this.#rows++;
    if ("issues" in record) {
      for (const issue of record.issues) this.#issues.push({ at: record.at, ...issue });
    } else {
      this.#planner.add(record.row);
      this.#positions.push(record.at);
    }
  }

  /** The window of the rows added since the last one, and a fresh start. */
  take(): Window {
    const { chunks, rejected } = this.#planner.plan();
    const positions = this.#positions;
    const issues = this.#issues;
    for (const issue of rejected) {
      issues.push({ at: positions[issue.index] as number, path: issue.path, message: issue.message });
    }
    issues.sort((a, b) => a.at - b.at); // stable: a row's issues keep their order
    const rejectedRows = new Set(issues.map((issue) => issue.at)).size;
    const sent = chunks.reduce((sum, chunk) => sum + chunk.rows.length, 0);
    const rows = this.#rows;
    this.#rows = 0;
    this.#positions = [];
    this.#issues = [];
    return { rows, chunks, issues, rejectedRows, mergedRows: rows - rejectedRows - sent, positions };
  }
}

/**
 * Group records into windows of up to `maxRows` input rows and plan each with the core's
 * chunk planner (validation, merging by id, cutting by rows and bytes). Only one window is held
 * at a time, and of it only the validated rows, which bounds memory; rows are merged only within
 * their window, and since windows are sent in order a later row still wins over an earlier
 * window's.
 *
 * @example
 * ```ts
 * for await (const window of planWindows(readNdjson(stream), { kind: "users", maxRows: 10_000 })) {
 *   for (const chunk of window.chunks) await send(chunk);
 * }
 * ```
 */
export async function* planWindows(
  records: AsyncIterable<InputRecord>,
  options: WindowOptions,
): AsyncGenerator<Window> {
  const window = new WindowBuilder(options);
  for await (const record of records) {
    window.add(record);
    if (window.rows === options.maxRows) yield window.take();
  }
  if (window.rows > 0) yield window.take();
}
