/**
 * Exact UTF-8 byte length of a string produced by `JSON.stringify` (which escapes lone
 * surrogates, so every surrogate here is half of a pair). Counting beats encoding: no copy.
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff) {
      // A pair is 2 code units and 4 bytes: +1 here, +1 for the low half below.
      bytes += 1;
    } else if (code >= 0xdc00 && code <= 0xdfff) bytes += 1;
    else bytes += 2;
  }
  return bytes;
}

// deno-lint-ignore no-control-regex
const NON_ASCII = /[^\u0000-\u007f]/;

/**
 * How many more bytes a string takes in UTF-8 than it has UTF-16 code units (0 for ASCII, +1 for
 * "é", +2 for "日" and for an emoji's surrogate pair), or -1 if it has a lone surrogate. This is
 * also what the string adds to a `JSON.stringify` text beyond its length, since `JSON.stringify`
 * escapes only ASCII characters (and lone surrogates, which valid rows never hold): so a body's
 * exact size can be summed from its rows, with no pass over the body.
 */
export function utf8ExtraBytes(text: string): number {
  if (!NON_ASCII.test(text)) return 0; // native scan: most ids, keys and values are ASCII
  let extra = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) extra += 1;
    else if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1); // NaN past the end
      if (!(next >= 0xdc00 && next <= 0xdfff)) return -1;
      extra += 2; // 2 code units, 4 bytes
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) return -1;
    else extra += 2;
  }
  return extra;
}
