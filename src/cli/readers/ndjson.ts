import { DEFAULT_MAX_RECORD_BYTES } from "../args.ts";
import { type InputRecord, tooLong } from "./record.ts";

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

function joined(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const whole = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    whole.set(part, offset);
    offset += part.byteLength;
  }
  return whole;
}

function readLine(bytes: Uint8Array, line: number, decoder: TextDecoder): InputRecord | undefined {
  const end = bytes.at(-1) === CARRIAGE_RETURN ? bytes.byteLength - 1 : bytes.byteLength;
  let text: string;
  try {
    text = decoder.decode(bytes.subarray(0, end));
  } catch {
    return { at: line, issues: [{ path: "", message: "line is not valid UTF-8" }] };
  }
  if (text.trim() === "") return undefined;
  try {
    return { at: line, row: JSON.parse(text) };
  } catch {
    // JSON.parse's own message quotes the input; this one must not.
    return { at: line, issues: [{ path: "", message: "line is not valid JSON" }] };
  }
}

/**
 * Read NDJSON (one JSON value per line) as records numbered by 1-based line. Lines are split on
 * bytes and decoded one by one, so a line of broken UTF-8 is one rejected row, not a failed run.
 * Blank lines are skipped but still counted. A line longer than `maxLineBytes` is rejected
 * without being held: its bytes are let go as they come, until its line break.
 *
 * @example
 * ```ts
 * for await (const record of readNdjson(createReadStream("users.ndjson"))) console.log(record.at);
 * ```
 */
export async function* readNdjson(
  chunks: AsyncIterable<Uint8Array>,
  maxLineBytes: number = DEFAULT_MAX_RECORD_BYTES,
): AsyncGenerator<InputRecord> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let carry: Uint8Array[] = [];
  let carried = 0; // bytes in `carry`; -1 once the line is over the limit (its bytes are dropped)
  let line = 0;
  const read = (piece: Uint8Array, at: number): InputRecord | undefined =>
    carried < 0 || carried + piece.byteLength > maxLineBytes
      ? { at, issues: [{ path: "", message: `line ${tooLong(maxLineBytes, "bytes")}` }] }
      : readLine(carry.length === 0 ? piece : joined([...carry, piece]), at, decoder);
  for await (const chunk of chunks) {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      line++;
      const record = read(chunk.subarray(start, end), line);
      carry = [];
      carried = 0;
      if (record !== undefined) yield record;
      start = end + 1;
    }
    if (start < chunk.byteLength && carried >= 0) {
      carried += chunk.byteLength - start;
      if (carried > maxLineBytes) [carry, carried] = [[], -1];
      else carry.push(chunk.slice(start));
    }
  }
  if (carry.length > 0 || carried < 0) {
    const record = read(new Uint8Array(0), line + 1);
    if (record !== undefined) yield record;
  }
}
