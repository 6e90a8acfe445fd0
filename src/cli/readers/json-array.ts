import { InputError } from "../errors.ts";
import { DEFAULT_MAX_RECORD_BYTES } from "../args.ts";
import { type InputRecord, tooLong } from "./record.ts";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

const isWhitespace = (code: number): boolean =>
  code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;

// Where the splitter is between elements; inside one, `depth` and the string flags take over.
type Place = "before-array" | "first-element" | "next-element" | "in-element" | "after-element" | "done";

/** One element of a JSON array, as raw text, with its 0-based index (`tooLong`: its text is not kept). */
export interface ArrayElement {
  readonly index: number;
  readonly text: string;
  readonly tooLong?: true;
}

/**
 * Split a JSON array arriving in pieces into the raw text of each element, holding only the
 * element in progress: a 2 GB export never has to fit in memory. Only brackets, braces, strings
 * and commas are tracked; each element's own syntax is left to `JSON.parse`, so one broken
 * element is one rejected row. A broken array (no `[`, a missing `,`, a missing `]`) stops the
 * run with {@link InputError}. A trailing comma before `]` is tolerated. An element longer than
 * `maxChars` is followed to its end without being held, and handed over as `tooLong`.
 *
 * @example
 * ```ts
 * for await (const { index, text } of splitJsonArray(["[{\"a\":1},", "2]"])) console.log(index, text);
 * // 0 {"a":1}
 * // 1 2
 * ```
 */
export async function* splitJsonArray(
  pieces: AsyncIterable<string> | Iterable<string>,
  maxChars: number = DEFAULT_MAX_RECORD_BYTES,
): AsyncGenerator<ArrayElement> {
  let place = "before-array" as Place; // `as`: TypeScript would narrow it to the initial value across the loop
  let depth = 0;
  let inString = false;
  let escaped = false;
  let index = 0;
  let carry = ""; // the element in progress, from earlier pieces
  let dropped = false; // the element in progress is over `maxChars`: its text is let go
  const malformed = (what: string): InputError =>
    new InputError(
      `the JSON array is malformed ${
        index === 0 ? "before its first element" : `after element ${index - 1}`
      }: ${what}`,
    );

  for await (const piece of pieces) {
    let start = 0; // where the element in progress starts in this piece
    for (let i = 0; i < piece.length; i++) {
      const code = piece.charCodeAt(i);
      if (place === "in-element") {
        let end = -1; // the element ends before this index
        if (inString) {
          if (escaped) escaped = false;
          else if (code === BACKSLASH) escaped = true;
          else if (code === QUOTE) {
            inString = false;
            if (depth === 0) end = i + 1;
          }
        } else if (code === QUOTE) inString = true;
        else if (code === OPEN_BRACE || code === OPEN_BRACKET) depth++;
        else if (depth > 0 && (code === CLOSE_BRACE || code === CLOSE_BRACKET)) {
          if (--depth === 0) end = i + 1;
        } else if (
          depth === 0 &&
          (code === COMMA || code === CLOSE_BRACKET || code === CLOSE_BRACE || isWhitespace(code))
        ) {
          end = i;
          i--; // a bare value ends here; read this character again as what follows it
        }
        if (end !== -1) {
          const text = dropped ? "" : carry + piece.slice(start, end);
          const over = dropped || text.length > maxChars;
          carry = "";
          dropped = false;
          place = "after-element";
          yield over ? { index: index++, text: "", tooLong: true } : { index: index++, text };
        }
        continue;
      }
      if (isWhitespace(code)) continue;
      if (place === "before-array") {
        if (code !== OPEN_BRACKET) {
          throw new InputError("the input is not a JSON array: it must start with [");
        }
        place = "first-element";
      } else if (place === "after-element") {
        if (code === COMMA) place = "next-element";
        else if (code === CLOSE_BRACKET) place = "done";
        else throw malformed("expected , or ]");
      } else if (place === "done") {
        throw new InputError("the input has more text after the JSON array's closing ]");
      } else if (code === CLOSE_BRACKET) {
        place = "done"; // `[]`, or a trailing comma
      } else if (code === COMMA) {
        throw malformed("an element is missing between two commas");
      } else {
        place = "in-element";
        start = i;
        depth = code === OPEN_BRACE || code === OPEN_BRACKET ? 1 : 0;
        inString = code === QUOTE;
        escaped = false;
      }
    }
    if (place === "in-element" && !dropped) {
      carry += piece.slice(start);
      if (carry.length > maxChars) [carry, dropped] = ["", true];
    }
  }
  if (place === "before-array") throw new InputError("the input is empty: expected a JSON array");
  if (place !== "done") throw malformed("the array is not closed with ] (is the file cut short?)");
}

/**
 * Read a JSON array as records numbered by 0-based element index.
 *
 * @example
 * ```ts
 * for await (const record of readJsonArray(decodeUtf8(stream))) console.log(record.at);
 * ```
 */
export async function* readJsonArray(
  pieces: AsyncIterable<string>,
  maxElementChars: number = DEFAULT_MAX_RECORD_BYTES,
): AsyncGenerator<InputRecord> {
  for await (const { index, text, tooLong: over } of splitJsonArray(pieces, maxElementChars)) {
    if (over) {
      yield {
        at: index,
        issues: [{ path: "", message: `element ${tooLong(maxElementChars, "characters")}` }],
      };
      continue;
    }
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch {
      // JSON.parse's own message quotes the input; this one must not.
      yield { at: index, issues: [{ path: "", message: "element is not valid JSON" }] };
      continue;
    }
    yield { at: index, row };
  }
}
