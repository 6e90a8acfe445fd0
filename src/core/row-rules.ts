import type { RowLimits } from "./limits.ts";

/**
 * The row rules that the valibot schemas (`schemas.ts`) and the fast path (`fast-rows.ts`) both
 * apply, so the two cannot drift: reserved keys, control characters, blank strings, key limits.
 * The schemas turn each rule into a named issue; the fast path only asks whether a row passes.
 */

/** Keys that would reach `Object.prototype` when a profile is merged in plain JavaScript. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/** Any control character (C0, DEL, C1): ids and keys are identifiers, not text. */
// deno-lint-ignore no-control-regex
export const CONTROL_CHARACTER: RegExp = /[\u0000-\u001f\u007f-\u009f]/;

/** A plain object: `{}` or `Object.create(null)`; not an array, a class instance or a `Date`. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Empty, or only white space. */
export function isBlank(text: string): boolean {
  return text.trim().length === 0;
}

/** What is wrong with a metadata key, or `undefined` if nothing is. Never quotes the key. */
export function metadataKeyProblem(key: string, limits: RowLimits): string | undefined {
  return FORBIDDEN_KEYS.has(key)
    ? "is a reserved JavaScript name and is not allowed"
    : isBlank(key)
    ? "key must not be empty"
    : key.length > limits.maxKeyLength
    ? `key must be at most ${limits.maxKeyLength} characters`
    : CONTROL_CHARACTER.test(key)
    ? "key must not contain control characters"
    : !key.isWellFormed()
    ? "key must be valid Unicode (it has an unpaired surrogate)"
    : undefined;
}
