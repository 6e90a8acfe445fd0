/**
 * Sizes of JSON texts measured without writing them: what `JSON.stringify` would write for a
 * string or a number, in UTF-8 bytes. The fast path sums them into a row's size, so a body can be
 * cut to `maxBytes` before it is written.
 */

// Anything but printable ASCII other than `"` and `\`, which JSON writes as they are, a byte each.
// deno-lint-ignore no-control-regex
const NEEDS_CARE = /[\u0000-\u001f"\\\u007f-\uffff]/;
// What JSON.stringify escapes in a well-formed string.
// deno-lint-ignore no-control-regex
const ESCAPED = /["\\\u0000-\u001f]/;

/** Printable ASCII without `"` or `\`: its JSON text is itself in quotes, a byte a character. */
export function isPlainJsonText(text: string): boolean {
  return !NEEDS_CARE.test(text);
}

/**
 * UTF-8 bytes of `JSON.stringify(text)` (quotes and escapes included), without making it; -1 if
 * the text has a lone surrogate (which a valid row never holds). One native test settles the
 * common case: ids, keys and most values are printable ASCII.
 *
 * @example
 * ```ts
 * jsonStringBytes("Zoë"); // 6: two quotes, "Zo", and 2 bytes for "ë"
 * ```
 */
export function jsonStringBytes(text: string): number {
  // Small, so engines inline it where every string is measured; the rare rest is out of line.
  return NEEDS_CARE.test(text) ? carefulJsonStringBytes(text) : text.length + 2;
}

/** {@link jsonStringBytes} of a string with something beyond plain printable ASCII. */
function carefulJsonStringBytes(text: string): number {
  let bytes = text.length + 2;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1); // NaN past the end
      if (!(next >= 0xdc00 && next <= 0xdfff)) return -1;
      bytes += 2; // 2 code units, 4 bytes
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) return -1;
    else bytes += 2;
  }
  if (!ESCAPED.test(text)) return bytes;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // `"` and `\` take a backslash; \b \t \n \f \r have short escapes, other controls \u00XX.
    if (code === 0x22 || code === 0x5c) bytes += 1;
    else if (code < 0x20) bytes += code >= 8 && code <= 13 && code !== 11 ? 1 : 5;
  }
  return bytes;
}

// Exact powers of ten, 10^0 to 10^16 (past 2^53), for counting digits without dividing.
const POWERS_OF_TEN: readonly number[] = Array.from({ length: 17 }, (_, i) => 10 ** i);

/** Digits of a whole number below 2^53. */
function digitCount(whole: number): number {
  let digits = 1;
  while (whole >= POWERS_OF_TEN[digits]!) digits++;
  return digits;
}

/**
 * Length of `JSON.stringify(n)` for a finite number (which is `String(n)`, all ASCII), mostly
 * without making it.
 *
 * @example
 * ```ts
 * jsonNumberBytes(4.56); // 4
 * ```
 */
export function jsonNumberBytes(n: number): number {
  if (n === (n | 0)) return n < 0 ? 1 + digitCount(-n) : digitCount(n); // -0 is written "0"
  const sign = n < 0 ? 1 : 0;
  const abs = sign === 1 ? -n : n;
  if (abs < 1e15) {
    if (Number.isInteger(abs)) return sign + digitCount(abs);
    // The shortest decimal that reads back as n (what String(n) writes, in fixed notation for
    // 1e-6 ≤ |n| < 1e21): with k ≤ 6 fraction digits it is m / 10^k for the smallest k where
    // that division is exact. Past 2^53 or 6 digits, String(n) decides.
    for (let k = 1; k <= 6; k++) {
      const scale = POWERS_OF_TEN[k]!;
      const m = Math.round(abs * scale);
      if (m > Number.MAX_SAFE_INTEGER) break;
      if (m / scale !== abs) continue;
      const digits = digitCount(m);
      // 4.56: the integer digits, ".", k digits; 0.05: "0.", then k digits with leading zeros
      return sign + (digits > k ? digits + 1 : k + 2);
    }
  }
  return String(n).length;
}
