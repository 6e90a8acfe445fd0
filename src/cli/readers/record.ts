/** What every input reader yields: one row (with its line or element), or why it could not be read. @module */
/**
 * Where rows are counted: a 1-based line (NDJSON, CSV), a 0-based element index (JSON array), or
 * a 1-based row of the query's result (`--from-postgres`, where each row also has its id).
 */
export type LocationKind = "line" | "element" | "row";

/** A problem found while reading a row, before the core's schemas see it. Never holds the value. */
export interface RecordIssue {
  /** Dotted path inside the row (`metadata.seats`), or `""` for the row itself. */
  readonly path: string;
  readonly message: string;
}

/**
 * One row read from the input, or why it could not be read. `at` is its line, element index or
 * row; `key`, the id's text of a row read from PostgreSQL (`null`: the id is NULL).
 */
export type InputRecord =
  | { readonly at: number; readonly key?: string | null; readonly row: unknown }
  | { readonly at: number; readonly key?: string | null; readonly issues: readonly RecordIssue[] };

/** Why a record was skipped for its size (`unit`: what the reader counts: bytes, or characters of text). */
export const tooLong = (max: number, unit: "bytes" | "characters"): string =>
  `is longer than ${max.toLocaleString("en-US")} ${unit} (--max-record-bytes), skipped`;
