import { expect, test } from "vitest";
import { DEFAULT_MAX_RECORD_BYTES, parseCliArgs } from "../../src/cli/args.ts";
import { readRecords } from "../../src/cli/readers/index.ts";
import type { InputRecord } from "../../src/cli/readers/index.ts";

// Every reader caps one record (`--max-record-bytes`): a runaway record (an unclosed quote, a
// missing line break) is rejected with its line or element and reading goes on, instead of the
// rest of the file being held in memory.

const encoder = new TextEncoder();

/** `text` as bytes, in pieces of `size` (how a file arrives). */
async function* pieces(text: string, size = 7): AsyncGenerator<Uint8Array> {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function read(format: "ndjson" | "json" | "csv", text: string, max: number, size?: number) {
  const all: InputRecord[] = [];
  const options = {
    format,
    kind: "users",
    columnTypes: new Map(),
    emptyAsNull: false,
    delimiter: ",",
    maxRecordBytes: max,
  } as const;
  for await (const record of readRecords(pieces(text, size), options)) all.push(record);
  return all;
}

const rowsOf = (records: InputRecord[]) => records.flatMap((r) => ("row" in r ? [r.row] : []));
const issuesOf = (records: InputRecord[]) =>
  records.flatMap((r) => ("issues" in r ? [{ at: r.at, message: r.issues[0]!.message }] : []));

test("NDJSON: a line over the cap is rejected with its line number, the lines after it are read", async () => {
  const long = JSON.stringify({ user_id: "long", metadata: { blob: "x".repeat(500) } });
  for (const size of [7, 64, 4096]) {
    const records = await read("ndjson", `{"user_id":"a"}\n${long}\n{"user_id":"b"}\n${long}`, 200, size);
    expect(rowsOf(records), `pieces of ${size}`).toEqual([{ user_id: "a" }, { user_id: "b" }]);
    expect(issuesOf(records)).toEqual([
      { at: 2, message: "line is longer than 200 bytes (--max-record-bytes), skipped" },
      { at: 4, message: "line is longer than 200 bytes (--max-record-bytes), skipped" },
    ]);
  }
  // At the cap exactly, a line is read.
  const exact = JSON.stringify({ user_id: "e".repeat(200 - 15) });
  expect(rowsOf(await read("ndjson", `${exact}\n`, 200))).toHaveLength(1);
});

test("CSV: a quote never closed is cut at the cap and skipped through the line it reached; reading goes on", async () => {
  const later = Array.from({ length: 40 }, (_, i) => `u${i},plan ${i}`).join("\n");
  const text = `user_id,plan\nbefore,free\nbroken,"never closed\n${later}\n`;
  for (const size of [7, 100]) {
    const records = await read("csv", text, 120, size);
    const [issue] = issuesOf(records);
    expect(issue!.at).toBe(3);
    expect(issue!.message).toMatch(
      /^malformed CSV: the record is longer than 120 characters \(--max-record-bytes\), skipped through line \d+ \(a quote never closed\?\)$/,
    );
    const through = Number(/through line (\d+)/.exec(issue!.message)![1]);
    // Every row before the broken one, and every row after the line it was cut at, is read.
    expect(rowsOf(records)).toEqual([
      { user_id: "before", metadata: { plan: "free" } },
      ...Array.from({ length: 40 }, (_, i) => ({ user_id: `u${i}`, metadata: { plan: `plan ${i}` } })).slice(
        through - 3, // line 4 holds u0
      ),
    ]);
    expect(through).toBeLessThan(20);
  }
  // Cut in the last line, it is skipped through the end of the input.
  const [last] = issuesOf(await read("csv", `user_id\n"${"y".repeat(300)}`, 120));
  expect(last).toEqual({
    at: 2,
    message:
      "malformed CSV: the record is longer than 120 characters (--max-record-bytes), skipped through the end of the input (a quote never closed?)",
  });
});

test("JSON array: an element over the cap is rejected with its index, the elements after it are read", async () => {
  const long = JSON.stringify({ user_id: "long", metadata: { blob: "z".repeat(500) } });
  for (const size of [7, 4096]) {
    const records = await read("json", `[{"user_id":"a"},${long},{"user_id":"b"}]`, 200, size);
    expect(rowsOf(records)).toEqual([{ user_id: "a" }, { user_id: "b" }]);
    expect(issuesOf(records)).toEqual([
      { at: 1, message: "element is longer than 200 characters (--max-record-bytes), skipped" },
    ]);
  }
});

test("--max-record-bytes: 16 MiB by default, a whole number from 1,024 to 1 GiB", () => {
  const options = (argv: string[]) => {
    const parsed = parseCliArgs(["users", "rows.ndjson", ...argv], {});
    if (!("options" in parsed)) throw new Error("no options");
    return parsed.options;
  };
  expect(options([]).maxRecordBytes).toBe(DEFAULT_MAX_RECORD_BYTES);
  expect(DEFAULT_MAX_RECORD_BYTES).toBe(16 * 1024 * 1024);
  expect(options(["--max-record-bytes", "65536"]).maxRecordBytes).toBe(65_536);
  for (const bad of ["12", "1e6", "2000000000", "lots"]) {
    expect(() => options(["--max-record-bytes", bad])).toThrow(
      "--max-record-bytes must be a whole number from 1024 to 1073741824",
    );
  }
});
