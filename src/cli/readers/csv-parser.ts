import { DEFAULT_MAX_RECORD_BYTES } from "../args.ts";
import { tooLong } from "./record.ts";

/** One CSV record: its fields, the 1-based line it starts on, and why it is malformed, if it is. */
export interface CsvRecord {
  readonly line: number;
  readonly fields: string[];
  readonly error?: string;
}

const QUOTE = 0x22;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

// field-start: nothing of the field read yet; bare: an unquoted field; quoted: inside quotes;
// quote: a quote inside a quoted field, which either closes it or starts a doubled ""
type Place = "field-start" | "bare" | "quoted" | "quote";

/**
 * Parse RFC 4180 CSV arriving in pieces: comma-separated (or by another one-character
 * `delimiter`, such as `;` or a tab), fields optionally in double quotes (`""` is a quote;
 * delimiters and line breaks may sit inside quotes), records ended by LF, CRLF or
 * CR. Records keep the line they start on, counting line breaks inside quoted fields, so
 * reports point at the right line. Blank lines are skipped. Only the record in progress is held,
 * and only up to `maxRecordChars`: a longer record (a quote never closed takes the rest of the
 * file) is let go and skipped through the end of the line it has reached, then parsing resumes.
 * Malformed records (text after a closing quote, a quote never closed, too long) carry `error`.
 *
 * @example
 * ```ts
 * for await (const record of parseCsv(['id,name\n1,"Doe, ', 'Jane"\n'])) console.log(record);
 * // { line: 1, fields: ["id", "name"] }, { line: 2, fields: ["1", "Doe, Jane"] }
 * ```
 */
export async function* parseCsv(
  pieces: AsyncIterable<string> | Iterable<string>,
  delimiter: string = ",",
  maxRecordChars: number = DEFAULT_MAX_RECORD_BYTES,
): AsyncGenerator<CsvRecord> {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === "\n" || delimiter === "\r") {
    throw new TypeError("the CSV delimiter must be one character other than a quote or a line break");
  }
  const separator = delimiter.charCodeAt(0);
  let place = "field-start" as Place; // `as`: TypeScript would narrow it to the initial value across the loop
  let value = ""; // the current field, up to `start` in the current piece
  let fields: string[] = [];
  let error: string | undefined;
  let line = 1;
  let recordLine = 1;
  let skipNewline = false; // a CR ended the record; a LF right after it belongs to it
  let recordChars = 0; // characters of the record in progress in earlier pieces
  let recordStart = 0; // where the record in progress starts in this piece
  let skipping = false; // the record is over `maxRecordChars`: dropped through its line's end
  const skipped = (through: string): CsvRecord => ({
    line: recordLine,
    fields: [],
    error: `the record ${tooLong(maxRecordChars, "characters")} through ${through} (a quote never closed?)`,
  });

  const endRecord = (): CsvRecord | undefined => {
    const record = fields.length === 1 && fields[0] === "" && error === undefined
      ? undefined // a blank line
      : error === undefined
      ? { line: recordLine, fields }
      : { line: recordLine, fields, error };
    fields = [];
    error = undefined;
    return record;
  };

  for await (const piece of pieces) {
    let start = 0;
    for (let i = 0; i < piece.length; i++) {
      const code = piece.charCodeAt(i);
      if (skipNewline) {
        skipNewline = false;
        if (code === NEWLINE) {
          start = recordStart = i + 1;
          continue;
        }
      }
      if (skipping) {
        if (code !== NEWLINE && code !== CARRIAGE_RETURN) continue;
        skipNewline = code === CARRIAGE_RETURN;
        skipping = false;
        const record = skipped(`line ${line}`);
        recordLine = ++line;
        place = "field-start";
        start = recordStart = i + 1;
        recordChars = 0;
        yield record;
        continue;
      }
      if (place === "quoted") {
        if (code === QUOTE) {
          value += piece.slice(start, i);
          place = "quote";
        } else if (code === NEWLINE) line++;
        continue;
      }
      if (place === "quote" && code === QUOTE) {
        place = "quoted"; // a doubled quote: keep the second one
        start = i;
        continue;
      }
      if (code === separator || code === NEWLINE || code === CARRIAGE_RETURN) {
        if (place === "bare") value += piece.slice(start, i);
        fields.push(value);
        value = "";
        place = "field-start";
        start = i + 1;
        if (code !== separator) {
          line++;
          skipNewline = code === CARRIAGE_RETURN;
          const record = endRecord();
          recordLine = line;
          recordStart = i + 1;
          recordChars = 0;
          if (record !== undefined) yield record;
        }
        continue;
      }
      if (place === "field-start") {
        place = code === QUOTE ? "quoted" : "bare";
        start = code === QUOTE ? i + 1 : i;
      } else if (place === "quote") {
        error ??= `field ${fields.length + 1} has text after its closing quote`;
        place = "bare";
        start = i;
      }
    }
    if (skipping) continue;
    if (place === "bare" || place === "quoted") value += piece.slice(start);
    recordChars += piece.length - recordStart;
    recordStart = 0;
    if (recordChars > maxRecordChars) {
      [skipping, value, fields, error] = [true, "", [], undefined];
    }
  }
  if (skipping) {
    yield skipped("the end of the input");
    return;
  }
  if (place === "quoted") error ??= `field ${fields.length + 1} opens a quote that is never closed`;
  if (place !== "field-start" || fields.length > 0) {
    fields.push(value);
    const record = endRecord();
    if (record !== undefined) yield record;
  }
}
