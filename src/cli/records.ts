import type { BulkKind } from "../../mod.ts";
import type { ColumnType, CsvDelimiter, InputFormat } from "./args.ts";
import { parseCsv } from "./csv-parser.ts";
import { readCsvRows } from "./csv-reader.ts";
import { decodeUtf8 } from "./input.ts";
import { readJsonArray } from "./json-array-reader.ts";
import { readNdjson } from "./ndjson-reader.ts";

/** Where rows are counted: a 1-based line (NDJSON, CSV) or a 0-based element index (JSON array). */
export type LocationKind = "line" | "element";

/** A problem found while reading a row, before the core's schemas see it. Never holds the value. */
export interface RecordIssue {
  /** Dotted path inside the row (`metadata.seats`), or `""` for the row itself. */
  readonly path: string;
  readonly message: string;
}

/** One row read from the input, or why it could not be read. `at` is its line or element index. */
export type InputRecord =
  | { readonly at: number; readonly row: unknown }
  | { readonly at: number; readonly issues: readonly RecordIssue[] };

/** Read the input as records, streaming, in the format the options name. */
export function readRecords(
  chunks: AsyncIterable<Uint8Array>,
  options: {
    readonly format: InputFormat;
    readonly kind: BulkKind;
    readonly columnTypes: ReadonlyMap<string, ColumnType>;
    readonly emptyAsNull: boolean;
    readonly delimiter: CsvDelimiter;
  },
): AsyncIterable<InputRecord> {
  switch (options.format) {
    case "ndjson":
      return readNdjson(chunks);
    case "json":
      return readJsonArray(decodeUtf8(chunks));
    case "csv":
      return readCsvRows(parseCsv(decodeUtf8(chunks), options.delimiter), options);
  }
}
