import type { BulkKind } from "../../core/build-requests.ts";
import { DEFAULT_ROW_LIMITS } from "../../core/limits.ts";
import type { Company, MetadataValue, User } from "../../core/schemas.ts";
import { utf8Length } from "../../core/utf8.ts";
import { COMPANY_FIELD, ID_FIELD, metadataField, metadataKey } from "./field-names.ts";

/**
 * The merge model of a stored row. Each row keeps, per field, its latest value and the time it was
 * accepted (`[value, ts]`), and per field the time of the value last delivered. A field is pending
 * while its latest time is newer than what was delivered. That makes merging order-independent
 * (the Queue may redeliver an older message after a newer one) and lets a completed job settle
 * exactly the values it carried: a field updated meanwhile stays pending with its newer value.
 * Field names are `@`, `company_id` and `m:<key>` (`field-names.ts`).
 */
export type Field = [value: MetadataValue, ts: number];
export type Fields = Record<string, Field>;
export type Sent = Record<string, number>;

/**
 * Most bytes of one row's fields in one job. Every value was within the limits when accepted, but
 * many accepted updates can merge into a row too big for one job: the rest waits for the next.
 */
const MAX_ROW_SEND_BYTES = 1_000_000;

/**
 * When the oldest value not yet delivered was accepted, among the current values, or `null` when
 * every field is delivered. A value replaced before it was delivered no longer shows here, so the
 * row's `pending_since` is kept with {@link keepOldest}, not recomputed from this alone.
 */
export function pendingFrom(fields: Fields, sent: Sent): number | null {
  let oldest: number | null = null;
  for (const name in fields) {
    const ts = fields[name]![1];
    if (ts > (sent[name] ?? -1) && (oldest === null || ts < oldest)) oldest = ts;
  }
  return oldest;
}

/**
 * A row's `pending_since` after a change: when the oldest update not yet delivered was accepted.
 * It orders the backlog oldest first, and an event waits for every identify of its user accepted
 * before it, so it must not move later while an update is undelivered, even one whose values a
 * later update replaced (the user may not exist in Userpilot yet). `previous` is the oldest
 * undelivered acceptance known before the change (`null`: none), `current` is
 * {@link pendingFrom} after it; `null` when nothing is pending any more.
 */
export function keepOldest(previous: number | null, current: number | null): number | null {
  if (current === null) return null;
  return previous === null ? current : Math.min(previous, current);
}

/** A validated row as fields stamped `ts`. */
export function fieldsOf(row: User | Company, ts: number): Fields {
  const fields: Fields = { [ID_FIELD]: [null, ts] };
  if ("user_id" in row && row.company_id !== undefined) fields[COMPANY_FIELD] = [row.company_id, ts];
  for (const [key, value] of Object.entries(row.metadata ?? {})) fields[metadataField(key)] = [value, ts];
  return fields;
}

/**
 * Merge `incoming` into `fields` (in place): per field, the later time wins; on a tie, the first
 * arrival. Returns whether any field took the incoming value.
 */
export function mergeFields(fields: Fields, incoming: Fields): boolean {
  let changed = false;
  for (const name in incoming) {
    const current = fields[name];
    const field = incoming[name]!;
    // First arrival wins a tie: what is stored must stay what was (or will be) delivered.
    if (current === undefined || current[1] < field[1]) {
      fields[name] = field;
      changed = true;
    }
  }
  return changed;
}

/** The row in Userpilot's shape for the given fields of a stored row. */
export function rowOf(kind: BulkKind, id: string, fields: Fields, names: Iterable<string>): User | Company {
  const metadata: Record<string, MetadataValue> = {};
  let companyId: string | undefined;
  let keys = 0;
  for (const name of names) {
    const value = fields[name]![0];
    const key = metadataKey(name);
    if (name === COMPANY_FIELD) companyId = value as string;
    else if (key !== undefined) {
      metadata[key] = value;
      keys++;
    }
  }
  const row: Record<string, unknown> = kind === "users" ? { user_id: id } : { company_id: id };
  if (kind === "users" && companyId !== undefined) row["company_id"] = companyId;
  if (keys > 0) row["metadata"] = metadata;
  return row as unknown as User | Company;
}

/**
 * The row to send now: the id and the pending fields, oldest first, as many as one row may carry
 * (`DEFAULT_ROW_LIMITS.maxKeys` metadata keys, `MAX_ROW_SEND_BYTES`); the rest stay pending for
 * the next job. Also the field times it carries, which a completed job settles, and whether that
 * is every pending field.
 */
export function pendingRow(
  kind: BulkKind,
  id: string,
  fields: Fields,
  sent: Sent,
): { row: User | Company; carried: Sent; whole: boolean } {
  let names: string[] = [];
  let keys = 0;
  let units = 0;
  for (const name in fields) {
    const [value, ts] = fields[name]!;
    if (ts <= (sent[name] ?? -1)) continue;
    names.push(name);
    if (metadataKey(name) !== undefined) keys++;
    units += name.length + (typeof value === "string" ? value.length : 24);
  }
  // No UTF-16 unit takes more than 3 bytes (JSON escapes add little beside the 6 of "\uXXXX").
  const pending = names.length;
  if (keys > DEFAULT_ROW_LIMITS.maxKeys || units * 6 > MAX_ROW_SEND_BYTES) names = fitRow(fields, names);
  const carried: Sent = {};
  for (const name of names) carried[name] = fields[name]![1];
  return { row: rowOf(kind, id, fields, names), carried, whole: names.length === pending };
}

/** Pending fields, oldest first, until a key or byte limit would be passed (the id and company always go). */
function fitRow(fields: Fields, names: string[]): string[] {
  const ordered = names.sort((a, b) => fields[a]![1] - fields[b]![1] || (a < b ? -1 : 1));
  const chosen: string[] = [];
  let keys = 0;
  let bytes = 0;
  for (const name of ordered) {
    const key = metadataKey(name);
    if (key !== undefined) {
      const size = utf8Length(JSON.stringify(key)) + utf8Length(JSON.stringify(fields[name]![0])) + 2;
      if (keys === DEFAULT_ROW_LIMITS.maxKeys || bytes + size > MAX_ROW_SEND_BYTES) continue;
      keys++;
      bytes += size;
    }
    chosen.push(name);
  }
  return chosen;
}
