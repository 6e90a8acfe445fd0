import * as v from "valibot";
import type { RowIssue } from "./errors.ts";
import { createFastRowParser, rowJsonBytes, type RowSize } from "./fast-rows.ts";
import { DEFAULT_MAX_ISSUES, type RowLimits } from "./limits.ts";
import { type Company, createCompanySchema, createUserSchema, type User } from "./schemas.ts";

/** Which bulk endpoint: users (default) or companies. */
export type BulkKind = "users" | "companies";

/** How rows are validated. */
export interface ValidateOptions {
  /** `"users"` (default) or `"companies"`. */
  kind?: BulkKind | undefined;
  /** Protective limits on ids, keys and values (see `DEFAULT_ROW_LIMITS`). */
  limits?: Partial<RowLimits> | undefined;
  /**
   * Most issues kept in `rejected`, the first in input order (default 100, `DEFAULT_MAX_ISSUES`;
   * `Infinity` keeps them all). `issueCount` counts every issue either way.
   */
  maxIssues?: number | undefined;
}

/** Rows that passed validation, each with its position in the input. */
export interface ValidatedRows<Row extends User | Company = User | Company> {
  readonly valid: { index: number; row: Row }[];
  /** The first `maxIssues` issues, in input order. */
  readonly rejected: RowIssue[];
  /** Every issue found, kept in `rejected` or not. */
  readonly issueCount: number;
}

/** Valid rows, their input positions and the UTF-8 bytes of their JSON text, side by side. */
export interface Validated {
  readonly rows: (User | Company)[];
  readonly indexes: number[];
  readonly bytes: number[];
  /** The first `maxIssues` issues, in input order. */
  readonly rejected: RowIssue[];
  issueCount: number;
  /** Rows that failed validation (a row may have several issues). */
  rejectedRows: number;
}

const pathOf = (issue: v.BaseIssue<unknown>): string =>
  (issue.path ?? [])
    .map((item) => {
      const key = String(item.key);
      return key.length > 64 ? `${key.slice(0, 64)}…` : key;
    })
    .join(".");

/** The message of an issue whose schema has none of its own: never quotes the input. */
export function valueFreeMessage(issue: v.BaseIssue<unknown>): string {
  return `invalid ${issue.kind === "schema" ? "type" : "value"}, expected ${
    issue.expected ?? "something else"
  }`;
}

/** valibot's issues of one row as value-free {@link RowIssue}s. */
export function toRowIssues(index: number, issues: readonly v.BaseIssue<unknown>[]): RowIssue[] {
  return issues.map((issue) => ({ index, path: pathOf(issue), message: issue.message }));
}

/** A whole number from 1 to `max`, or a `RangeError` naming the option. */
export function checkLimit(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be a whole number from 1 to ${max}`);
  }
  return value;
}

/** `maxIssues`, or its default; a `RangeError` unless it is a whole number ≥ 0 or `Infinity`. */
export function resolveMaxIssues(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_ISSUES;
  if (value === Number.POSITIVE_INFINITY || (Number.isInteger(value) && value >= 0)) return value;
  throw new RangeError("maxIssues must be a whole number of 0 or more, or Infinity");
}

/**
 * A validator that takes rows one at a time (the row's index is its position in the calls) and
 * gathers them into parallel arrays (no object per row), with each row's JSON size. The fast
 * path takes the rows it is certain of; valibot decides the rest and names their issues, of which
 * the first `maxIssues` are kept (pushed one by one: a row can have hundreds). Nothing of an
 * input row is kept but its validated copy, so a caller streaming rows holds no input.
 */
export function createValidator(options: ValidateOptions): {
  add(input: unknown): void;
  readonly result: Validated;
} {
  const kind = options.kind === "companies" ? "companies" : "users";
  const maxIssues = resolveMaxIssues(options.maxIssues);
  const fast = createFastRowParser(kind, options.limits);
  const size: RowSize = { bytes: 0 };
  // Built only when the fast path declines a row: valibot decides it and names the issues.
  let schema: v.GenericSchema<unknown, User | Company> | undefined;
  const out: Validated = { rows: [], indexes: [], bytes: [], rejected: [], issueCount: 0, rejectedRows: 0 };
  let index = 0;
  const add = (input: unknown): void => {
    const row = fast(input, size);
    if (row !== undefined) {
      out.rows.push(row);
      out.indexes.push(index++);
      out.bytes.push(size.bytes);
      return;
    }
    schema ??= kind === "companies" ? createCompanySchema(options.limits) : createUserSchema(options.limits);
    const result = v.safeParse(schema, input, { message: valueFreeMessage });
    if (result.success) {
      out.rows.push(result.output);
      out.indexes.push(index);
      out.bytes.push(rowJsonBytes(result.output));
    } else {
      const room = maxIssues - out.rejected.length;
      if (room > 0) {
        for (const issue of toRowIssues(index, result.issues.slice(0, room))) out.rejected.push(issue);
      }
      out.issueCount += result.issues.length;
      out.rejectedRows++;
    }
    index++;
  };
  return { add, result: out };
}

/** {@link createValidator} over an iterable. */
export function validate(rows: Iterable<unknown>, options: ValidateOptions): Validated {
  const validator = createValidator(options);
  for (const input of rows) validator.add(input);
  return validator.result;
}

/**
 * Validate every row against the user or company schema. Bad rows become value-free
 * `{ index, path, message }` issues (the first `maxIssues`, 100 by default; `issueCount` counts
 * them all); good rows come back as the schema outputs them (a `Date` as its ISO string).
 *
 * @example
 * ```ts
 * const { valid, rejected } = validateRows([{ user_id: "u1" }, { user_id: "" }]);
 * // valid: [{ index: 0, row: { user_id: "u1" } }], rejected: [{ index: 1, path: "user_id", ... }]
 * ```
 */
export function validateRows(rows: Iterable<unknown>, options: ValidateOptions = {}): ValidatedRows {
  const { rows: valid, indexes, rejected, issueCount } = validate(rows, options);
  return { valid: valid.map((row, i) => ({ index: indexes[i]!, row })), rejected, issueCount };
}
