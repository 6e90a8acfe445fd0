import type { BulkKind } from "../../../mod.ts";
import type { ColumnType } from "../args.ts";
import type { CsvRecord } from "./csv-parser.ts";
import { InputError, UsageError } from "../errors.ts";
import type { InputRecord, RecordIssue } from "./record.ts";

/** How CSV cells become row fields. */
export interface CsvRowOptions {
  readonly kind: BulkKind;
  /** Column types; columns not named are strings. */
  readonly columnTypes: ReadonlyMap<string, ColumnType>;
  /** Send empty cells as `null` (removes the property) instead of leaving them out. */
  readonly emptyAsNull: boolean;
}

type Cell = string | number | boolean;

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TRUE = new Set(["true", "t", "yes", "y", "1"]);
const FALSE = new Set(["false", "f", "no", "n", "0"]);
const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(?:\s*(Z|[+-]\d{2}(?::?\d{2})?))?$/i;

/**
 * An ISO 8601 date or date-time as its canonical UTC string, or `undefined`. Parsed by hand, not
 * with `Date.parse`, whose accepted formats differ between V8 (Node, Deno) and JavaScriptCore
 * (Bun); a time without an offset is UTC, so the result does not depend on the machine's zone.
 */
export function isoDate(text: string): string | undefined {
  const match = ISO_DATE.exec(text.trim());
  if (match === null) return undefined;
  const [, y, mo, d, h = "0", mi = "0", s = "0", fraction = "0", zone = "Z"] = match;
  const parts = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  const [year, month, day, hour, minute, second] = parts;
  const ms = Math.floor(Number(`0.${fraction}`) * 1000);
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  const check = new Date(utc);
  // Date.UTC rolls 31 February over into March; a real date survives the round trip.
  if (
    check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day ||
    hour > 23 || minute > 59 || second > 59
  ) {
    return undefined;
  }
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== "Z") {
    const digits = zone.slice(1).replace(":", "");
    const hours = Number(digits.slice(0, 2));
    const minutes = Number(digits.slice(2) || "0");
    if (hours > 23 || minutes > 59) return undefined;
    offsetMinutes = (zone.startsWith("-") ? -1 : 1) * (hours * 60 + minutes);
  }
  return new Date(utc - offsetMinutes * 60_000).toISOString();
}

/** A cell as its column's type, or the reason it is not one (without the value). */
function typed(text: string, type: ColumnType): Cell | { problem: string } {
  switch (type) {
    case "string":
      return text;
    case "number": {
      const value = NUMBER.test(text.trim()) ? Number(text) : Number.NaN;
      return Number.isFinite(value) ? value : { problem: "is not a number (--types number)" };
    }
    case "boolean": {
      const lower = text.trim().toLowerCase();
      return TRUE.has(lower) ? true : FALSE.has(lower) ? false : {
        problem: "is not a boolean: use true/false, t/f, yes/no, y/n or 1/0 (--types boolean)",
      };
    }
    case "date":
      return isoDate(text) ??
        { problem: "is not an ISO 8601 date such as 2024-05-01T13:45:00Z (--types date)" };
  }
}

// Warehouse exports often upper-case their headers (USER_ID) or pad them; the id columns are
// found whatever their case. Other columns are property names and are kept as written.
const ID_COLUMNS: ReadonlySet<string> = new Set(["user_id", "company_id"]);

/** A header cell as a column name: trimmed, and an id column's name in lower case. */
function columnName(cell: string): string {
  const name = cell.trim();
  const lower = name.toLowerCase();
  return ID_COLUMNS.has(lower) ? lower : name;
}

/** Check the header row against the id columns and `--types`; returns the column names. */
function readHeader(record: CsvRecord | undefined, options: CsvRowOptions): string[] {
  if (record === undefined) throw new InputError("the CSV input is empty: expected a header row");
  if (record.error !== undefined) throw new InputError(`the CSV header row is malformed: ${record.error}`);
  const names = record.fields.map(columnName);
  const idColumn = options.kind === "users" ? "user_id" : "company_id";
  const seen = new Set<string>();
  for (const [position, name] of names.entries()) {
    if (name === "") throw new InputError(`the CSV header's column ${position + 1} has no name`);
    if (seen.has(name)) {
      throw new InputError(
        `the CSV header names column "${name}" twice${ID_COLUMNS.has(name) ? " (in any case)" : ""}`,
      );
    }
    seen.add(name);
  }
  if (!seen.has(idColumn)) throw new InputError(`the CSV header has no ${idColumn} column`);
  for (const column of options.columnTypes.keys()) {
    if (ID_COLUMNS.has(column.toLowerCase())) {
      throw new UsageError(`--types cannot type the id column "${column}"; ids are strings`);
    }
    if (!seen.has(column)) {
      throw new UsageError(`--types names column "${column}", which the CSV header lacks`);
    }
  }
  return names;
}

/**
 * Turn CSV records into rows: the header names the columns; `user_id` (or, for companies,
 * `company_id`, either in any case and trimmed) is the id, a users file may have a `company_id` column, and every other column
 * is a metadata property typed by `--types`. Empty cells are left out (or sent as `null` with
 * `emptyAsNull`); an empty id is left out too, so the schema reports it as missing. A cell that
 * does not fit its type rejects the row.
 *
 * @example
 * ```ts
 * const rows = readCsvRows(parseCsv(decodeUtf8(stream)), { kind: "users", columnTypes, emptyAsNull: false });
 * ```
 */
export async function* readCsvRows(
  records: AsyncIterable<CsvRecord>,
  options: CsvRowOptions,
): AsyncGenerator<InputRecord> {
  const iterator = records[Symbol.asyncIterator]();
  const first = await iterator.next();
  const names = readHeader(first.done ? undefined : first.value, options);
  const idColumn = options.kind === "users" ? "user_id" : "company_id";
  const types = names.map((name) => options.columnTypes.get(name) ?? "string");
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    const { line, fields, error } = next.value;
    if (error !== undefined) {
      yield { at: line, issues: [{ path: "", message: `malformed CSV: ${error}` }] };
      continue;
    }
    if (fields.length !== names.length) {
      yield {
        at: line,
        issues: [{ path: "", message: `has ${fields.length} fields; the header has ${names.length}` }],
      };
      continue;
    }
    const row: Record<string, unknown> = {};
    const metadata: [string, Cell | null][] = [];
    const issues: RecordIssue[] = [];
    for (const [position, name] of names.entries()) {
      const text = fields[position] as string;
      if (name === idColumn || (name === "company_id" && options.kind === "users")) {
        if (text !== "") row[name] = text;
        continue;
      }
      if (text === "") {
        if (options.emptyAsNull) metadata.push([name, null]);
        continue;
      }
      const value = typed(text, types[position] as ColumnType);
      if (typeof value === "object") issues.push({ path: `metadata.${name}`, message: value.problem });
      else metadata.push([name, value]);
    }
    if (issues.length > 0) {
      yield { at: line, issues };
      continue;
    }
    // fromEntries defines own properties, so a column named __proto__ stays data (and the schema rejects it).
    if (metadata.length > 0) row["metadata"] = Object.fromEntries(metadata);
    yield { at: line, row };
  }
}
