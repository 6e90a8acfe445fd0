/**
 * The query's columns, checked before a row is read: which one is the id, which the company (users
 * only), and how each of the others becomes a property, by its PostgreSQL type. A column no row
 * could send (`json`, an array, `bytea`, one with no name, a name given twice) stops the sync here,
 * naming the column and the fix, rather than failing every row.
 * @module
 */
import type { BulkKind } from "../../mod.ts";
import { PostgresSourceError } from "./errors.ts";
import {
  readBoolean,
  readFloat,
  readInteger,
  readNumeric,
  readText,
  readTimestamp,
  type ValueReader,
} from "./values.ts";

/** A column as the server describes it. */
export interface DescribedColumn {
  readonly name: string;
  /** Its type's oid. */
  readonly type: number;
}

/** What the catalog says of a type. */
export interface TypeInfo {
  /** As `format_type` writes it: `bigint`, `text[]`, `jsonb`. */
  readonly name: string;
  /** `pg_type.typcategory`: `A` for arrays, `C` composite, ... */
  readonly category: string;
}

/** How the query's columns become a row. */
export interface ColumnPlan {
  /** Position of the id column among the query's columns. */
  readonly id: number;
  /** Position of the company column (users only), if the query has one. */
  readonly company: number | undefined;
  /** Every other column: its property name and how its values are read. */
  readonly properties: readonly {
    readonly index: number;
    readonly name: string;
    readonly read: ValueReader;
  }[];
}

/** Which columns hold the ids. */
export interface ColumnNames {
  readonly kind: BulkKind;
  /** Default `user_id` (users) or `company_id` (companies). */
  readonly idColumn?: string | undefined;
  /** Users only; default `company_id`, used when the query has it. */
  readonly companyColumn?: string | undefined;
}

const READERS: ReadonlyMap<number, ValueReader> = new Map([
  [16, readBoolean], // boolean
  [20, readInteger], // bigint
  [21, readInteger], // smallint
  [23, readInteger], // integer
  [26, readInteger], // oid
  [700, readFloat], // real
  [701, readFloat], // double precision
  [1700, readNumeric], // numeric
  [1082, readTimestamp], // date
  [1114, readTimestamp], // timestamp
  [1184, readTimestamp], // timestamptz
]);

/** Types whose text is no property value: refused, with what to write instead. */
const REFUSED: ReadonlyMap<number, string> = new Map([
  [114, "flatten it in the query, one property a column: settings->>'theme' AS theme"], // json
  [3802, "flatten it in the query, one property a column: settings->>'theme' AS theme"], // jsonb
  [17, "properties are text, numbers, booleans or dates: select encode(col, 'hex') or leave it out"], // bytea
]);

/** Types an id may have: text-like, integers, uuid (sent as their text). */
const ID_TYPES: ReadonlySet<number> = new Set([25, 1043, 1042, 19, 2950, 20, 21, 23, 26]);

/** The oids whose catalog entries {@link planColumns} needs. */
export function typesToLookUp(columns: readonly DescribedColumn[]): number[] {
  return [...new Set(columns.map((column) => column.type))];
}

/**
 * Check the query's columns and plan how each becomes part of a row. Throws
 * {@link PostgresSourceError} naming every problem at once.
 *
 * @example
 * ```ts
 * const plan = planColumns([{ name: "user_id", type: 25 }, { name: "seats", type: 23 }], types, { kind: "users" });
 * ```
 */
export function planColumns(
  columns: readonly DescribedColumn[],
  types: ReadonlyMap<number, TypeInfo>,
  names: ColumnNames,
): ColumnPlan {
  const idName = names.idColumn ?? (names.kind === "users" ? "user_id" : "company_id");
  const companyName = names.kind === "users" ? names.companyColumn ?? "company_id" : undefined;
  const problems: string[] = [];
  const typeName = (oid: number): string => types.get(oid)?.name ?? `type ${oid}`;
  const seen = new Set<string>();
  for (const [position, column] of columns.entries()) {
    if (column.name === "?column?") {
      problems.push(`column ${position + 1} has no name: give it one with AS`);
    } else if (seen.has(column.name)) {
      problems.push(`the query has two columns named "${column.name}": rename one with AS`);
    }
    seen.add(column.name);
  }
  const id = columns.findIndex((column) => column.name === idName);
  if (id < 0) {
    problems.push(
      `the query has no "${idName}" column for the ids: alias one (id AS ${idName}) or name it (--id-column; idColumn in a script)`,
    );
  } else if (!ID_TYPES.has(columns[id]!.type)) {
    problems.push(
      `the id column "${idName}" is ${
        typeName(columns[id]!.type)
      }: ids must be text, an integer or a uuid (cast it: ::text)`,
    );
  }
  if (names.kind === "users" && names.companyColumn !== undefined && !seen.has(names.companyColumn)) {
    problems.push(
      `the query has no "${names.companyColumn}" column (--company-column; companyColumn in a script)`,
    );
  }
  const companyIndex = companyName === undefined ? -1 : columns.findIndex((c) => c.name === companyName);
  if (companyIndex >= 0 && !ID_TYPES.has(columns[companyIndex]!.type)) {
    problems.push(
      `the company column "${companyName}" is ${
        typeName(columns[companyIndex]!.type)
      }: company ids must be text, an integer or a uuid (cast it: ::text)`,
    );
  }
  const properties: { index: number; name: string; read: ValueReader }[] = [];
  for (const [index, column] of columns.entries()) {
    if (index === id || index === companyIndex) continue;
    const refused = REFUSED.get(column.type) ??
      (types.get(column.type)?.category === "A"
        ? "an array is no property value: join it into text (array_to_string(col, ',')) or one column an element"
        : types.get(column.type)?.category === "C"
        ? "a row value is no property value: select its fields as columns"
        : undefined);
    if (refused !== undefined) {
      problems.push(`column "${column.name}" is ${typeName(column.type)}: ${refused}`);
      continue;
    }
    properties.push({ index, name: column.name, read: READERS.get(column.type) ?? readText });
  }
  if (problems.length > 0) throw new PostgresSourceError(`the query's columns: ${problems.join("; ")}`);
  return { id, company: companyIndex >= 0 ? companyIndex : undefined, properties };
}
