import type { Company, User } from "./schemas.ts";

/** The id a row is merged by: `user_id` for users, `company_id` for companies. */
export function rowId(row: User | Company): string {
  return "user_id" in row ? row.user_id : row.company_id;
}

/**
 * Merge rows that share an id, the way Userpilot merges repeated identifies: later values win per
 * metadata key, a later `null` is kept (it removes the property at Userpilot), a later
 * `company_id` replaces an earlier one, and rows keep the order in which their id first appeared.
 * The input is not modified.
 *
 * @example
 * ```ts
 * coalesceRows([
 *   { user_id: "u1", metadata: { plan: "free", seats: 1 } },
 *   { user_id: "u1", metadata: { plan: "pro", seats: null } },
 * ]);
 * // [{ user_id: "u1", metadata: { plan: "pro", seats: null } }]
 * ```
 */
export function coalesceRows<Row extends User | Company>(rows: Iterable<Row>): Row[] {
  const merged = new Map<string, Row>();
  for (const row of rows) {
    const id = rowId(row);
    const earlier = merged.get(id);
    merged.set(id, earlier === undefined ? row : mergeRow(earlier, row));
  }
  return [...merged.values()];
}

/** Merge `later` onto `earlier` (same id). Spread, not assignment: a `__proto__` key stays data. */
export function mergeRow<Row extends User | Company>(earlier: Row, later: Row): Row {
  const result: Row = { ...earlier };
  if ("company_id" in later && later.company_id !== undefined) result.company_id = later.company_id;
  if (later.metadata !== undefined) {
    result.metadata = earlier.metadata === undefined
      ? later.metadata
      : { ...earlier.metadata, ...later.metadata };
  }
  return result;
}
