import { resolveLimits, type RowLimits } from "./limits.ts";
import { CONTROL_CHARACTER, isBlank, isPlainObject, metadataKeyProblem } from "./row-rules.ts";
import type { Company, Metadata, User } from "./schemas.ts";
import { isPlainJsonText, jsonNumberBytes, jsonStringBytes } from "./json-size.ts";
import { utf8Length } from "./utf8.ts";

/** Filled in by a {@link FastRowParser} for the row it accepts. */
export interface RowSize {
  /** Exact UTF-8 bytes of the row's JSON text, `JSON.stringify(row)`. */
  bytes: number;
}

/**
 * Returns the row exactly as the schema outputs it, or `undefined` to let the schema decide.
 * When it returns a row and `size` is given, `size.bytes` is set for that row.
 */
export type FastRowParser = (input: unknown, size?: RowSize) => User | Company | undefined;

/** Whether every property of `Object.prototype` (but `__proto__`) is a plain writable value, as in a clean realm. */
function plainObjectPrototype(): boolean {
  for (const key of Object.getOwnPropertyNames(Object.prototype)) {
    if (key === "__proto__") continue;
    const descriptor = Object.getOwnPropertyDescriptor(Object.prototype, key);
    if (descriptor === undefined || !("value" in descriptor) || descriptor.writable !== true) return false;
  }
  return true;
}

/** UTF-8 bytes of a row's JSON text, for rows that did not come through the fast path. */
export function rowJsonBytes(row: User | Company): number {
  return utf8Length(JSON.stringify(row));
}

/**
 * The common case without valibot, in one pass over the row: a row that is certainly valid comes
 * back exactly as the user or company schema would output it (same keys, same order, a `Date` as
 * its ISO string), with the exact UTF-8 size of its JSON text counted on the way, so a body can be
 * cut to `maxBytes` before it is written. Anything else, or anything unusual, gives `undefined`
 * so the schema decides and names the issues. It accepts a subset of what the schema accepts, so
 * it can never let a bad row through; both apply the rules of `row-rules.ts`, and
 * test/reliability/properties.test.ts checks they agree. Why: valibot's pipes cost about ten times
 * a `JSON.stringify` of the same rows (profiled, see BENCHMARKS.md).
 *
 * @example
 * ```ts
 * const parse = createFastRowParser("users");
 * const size = { bytes: 0 };
 * parse({ user_id: "u1", metadata: { plan: "pro" } }, size); // size.bytes === 42
 * ```
 */
export function createFastRowParser(
  kind: "users" | "companies",
  options: Partial<RowLimits> = {},
): FastRowParser {
  const limits = resolveLimits(options);
  // A polluted realm sends every row to the schema, which handles it: an enumerable key on
  // Object.prototype would reach for...in below, and a setter or read-only property there would
  // catch valibot's assignments, which the object spread below does not make.
  for (const _ in {}) return () => undefined;
  if (!plainObjectPrototype()) return () => undefined;
  // Rows repeat the same few keys: check each distinct key once (bounded, for hostile inputs),
  // and compare with the previous row's key at the same position first (identity, no hashing).
  // Both remember the bytes of the key's JSON text with its colon, or -1 for a bad key.
  const checkedKeys = new Map<string, number>();
  const previousKeys: string[] = [];
  const previousBytes: number[] = [];
  const keyBytes = (key: string): number => {
    let bytes = checkedKeys.get(key);
    if (bytes !== undefined) return bytes;
    bytes = metadataKeyProblem(key, limits) === undefined ? jsonStringBytes(key) + 1 : -1;
    if (checkedKeys.size < 4096) checkedKeys.set(key, bytes);
    return bytes;
  };
  /** Bytes of an id's JSON text, or -1 unless it is certainly valid. */
  const idBytes = (value: unknown): number => {
    if (typeof value !== "string" || value.length > limits.maxIdLength || isBlank(value)) return -1;
    // Plain printable ASCII has no control character to look for.
    if (isPlainJsonText(value)) return value.length + 2;
    return CONTROL_CHARACTER.test(value) ? -1 : jsonStringBytes(value); // -1 for a lone surrogate
  };

  /** Copies valid metadata into `row.metadata` and returns the bytes of its JSON text, or -1. */
  const metadataBytes = (input: unknown, row: Record<string, unknown>): number => {
    if (!isPlainObject(input)) return -1;
    // Copy first, then check the copy: V8 clones an object spread in one step, several times
    // faster than adding keys one by one, in the same order (own keys, as for...in sees them).
    // valibot's record walks for...in, which skips symbol keys a spread would copy: rows with
    // any go to the schema. (The realm was checked above, so for...in sees own keys only.)
    if (Object.getOwnPropertySymbols(input).length > 0) return -1;
    const output: Metadata = { ...input } as Metadata;
    let bytes = 2; // {}
    let count = 0;
    for (const key in output) {
      let size: number;
      if (previousKeys[count] === key) size = previousBytes[count]!;
      else {
        size = keyBytes(key);
        if (size < 0) return -1;
        previousKeys[count] = key;
        previousBytes[count] = size;
      }
      if (++count > limits.maxKeys) return -1;
      let value: unknown = output[key];
      switch (typeof value) {
        case "string":
          if (value.length > limits.maxStringLength) return -1;
          break;
        case "number":
          if (!Number.isFinite(value)) return -1;
          size += jsonNumberBytes(value) + 1;
          break;
        case "boolean":
          size += value ? 5 : 6;
          break;
        case "object":
          // valibot's date(): an instance whose numeric value is not NaN, sent as toISOString().
          if (value === null) {
            size += 5;
            break;
          }
          if (!(value instanceof Date) || Number.isNaN(+value)) return -1;
          value = value.toISOString();
          if (typeof value !== "string") return -1;
          output[key] = value;
          break;
        default:
          return -1;
      }
      if (typeof value === "string") {
        const text = jsonStringBytes(value);
        if (text < 0) return -1; // a lone surrogate
        size += text + 1;
      }
      bytes += size; // key, value and a comma; one comma too many, taken off below
    }
    row["metadata"] = output;
    return count === 0 ? bytes : bytes - 1;
  };

  // strictObject reads declared keys with `in` and refuses any other key for...in finds. Output
  // keys come in the schema's order (id, company_id, metadata), as valibot's do.
  const idKey = kind === "companies" ? "company_id" : "user_id";
  const idFieldBytes = idKey.length + 4; // {"user_id":
  return function parseRow(input, size) {
    if (!isPlainObject(input)) return undefined;
    for (const key in input) {
      if (key !== idKey && key !== "company_id" && key !== "metadata") return undefined;
    }
    const id = input[idKey];
    let bytes = idBytes(id);
    if (bytes < 0) return undefined;
    bytes += idFieldBytes + 1; // and the closing brace
    const row: Record<string, unknown> = { [idKey]: id };
    if (idKey === "user_id" && "company_id" in input) {
      const companyId = input["company_id"];
      const companyBytes = idBytes(companyId);
      if (companyBytes < 0) return undefined;
      bytes += companyBytes + 14; // ,"company_id":
      row["company_id"] = companyId;
    }
    if ("metadata" in input) {
      const metadataSize = metadataBytes(input["metadata"], row);
      if (metadataSize < 0) return undefined;
      bytes += metadataSize + 12; // ,"metadata":
    }
    if (size !== undefined) size.bytes = bytes;
    return row as unknown as User | Company;
  };
}
