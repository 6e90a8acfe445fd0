import { type BulkKind, type Chunk, planChunks } from "../../mod.ts";
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
}

/** How rows are windowed and chunked. */
export interface WindowOptions {
  readonly kind: BulkKind;
  /** Rows per window and most rows per chunk. */
  readonly maxRows: number;
  readonly maxBytes?: number | undefined;
}

function plan(batch: readonly InputRecord[], options: WindowOptions): Window {
  const rows: unknown[] = [];
  const positions: number[] = [];
  const issues: LocatedIssue[] = [];
  for (const record of batch) {
    if ("issues" in record) {
      for (const issue of record.issues) issues.push({ at: record.at, ...issue });
    } else {
      rows.push(record.row);
      positions.push(record.at);
    }
  }
  const { chunks, rejected } = planChunks(rows, {
    kind: options.kind,
    maxRows: options.maxRows,
    maxBytes: options.maxBytes,
    // The report names every rejected row (a row's own issues stay bounded by the schemas).
    maxIssues: Number.POSITIVE_INFINITY,
  });
  for (const issue of rejected) {
    issues.push({ at: positions[issue.index] as number, path: issue.path, message: issue.message });
  }
  issues.sort((a, b) => a.at - b.at); // stable: a row's issues keep their order
  const rejectedRows = new Set(issues.map((issue) => issue.at)).size;
  const sent = chunks.reduce((sum, chunk) => sum + chunk.rows.length, 0);
  return { rows: batch.length, chunks, issues, rejectedRows, mergedRows: batch.length - rejectedRows - sent };
}

/**
 * Group records into windows of up to `maxRows` input rows and plan each with the core's
 * `planChunks` (validation, merging by id, cutting by rows and bytes). Only one window is held at
 * a time, which bounds memory; rows are merged only within their window, and since windows are
 * sent in order a later row still wins over an earlier window's.
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
  let batch: InputRecord[] = [];
  for await (const record of records) {
    batch.push(record);
    if (batch.length === options.maxRows) {
      const window = plan(batch, options);
      batch = [];
      yield window;
    }
  }
  if (batch.length > 0) yield plan(batch, options);
}
