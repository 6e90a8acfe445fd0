/**
 * The CLI's input readers: NDJSON, a JSON array, and CSV/TSV, each streaming its bytes into
 * records (a row with its line or element, or the issues that kept it from being read). Other
 * CLI modules read input only through {@link readRecords} and the record types here.
 * @module
 */
import type { BulkKind } from "../../../mod.ts";
import type { ColumnType, CsvDelimiter, InputFormat } from "../args.ts";
import { parseCsv } from "./csv-parser.ts";
import { readCsvRows } from "./csv.ts";
import { decodeUtf8 } from "../input.ts";
import { readJsonArray } from "./json-array.ts";
import { readNdjson } from "./ndjson.ts";
import type { InputRecord } from "./record.ts";

export type { InputRecord, LocationKind, RecordIssue } from "./record.ts";

/**
 * Read the input as records, streaming, in the format the options name; a record over
 * `maxRecordBytes` is rejected (with its line or element) and reading goes on.
 */
export function readRecords(
  chunks: AsyncIterable<Uint8Array>,
  options: {
    readonly format: InputFormat;
    readonly kind: BulkKind;
    readonly columnTypes: ReadonlyMap<string, ColumnType>;
    readonly emptyAsNull: boolean;
    readonly delimiter: CsvDelimiter;
    /** The longest record held (NDJSON: bytes of a line; CSV and JSON: characters of a record). */
    readonly maxRecordBytes: number;
  },
): AsyncIterable<InputRecord> {
  const max = options.maxRecordBytes;
  switch (options.format) {
    case "ndjson":
      return readNdjson(chunks, max);
    case "json":
      return readJsonArray(decodeUtf8(chunks), max);
    case "csv":
      return readCsvRows(parseCsv(decodeUtf8(chunks), options.delimiter, max), options);
  }
}
