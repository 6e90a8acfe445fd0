import { expect, test } from "vitest";
import { type CsvRecord, parseCsv } from "../../src/cli/readers/csv-parser.ts";

async function parse(pieces: Iterable<string>): Promise<CsvRecord[]> {
  const records: CsvRecord[] = [];
  for await (const record of parseCsv(pieces)) records.push(record);
  return records;
}

/** Every way of cutting `text` in two, and one character at a time, parses the same. */
async function parseEverySplit(text: string): Promise<CsvRecord[]> {
  const whole = await parse([text]);
  expect(await parse([...text])).toEqual(whole);
  for (let at = 0; at <= text.length; at++) {
    expect(await parse([text.slice(0, at), text.slice(at)])).toEqual(whole);
  }
  return whole;
}

test("fields, quotes, doubled quotes, commas and line breaks inside quotes", async () => {
  const text = 'id,note\r\n1,"a, ""b""\r\nc"\n2,plain\n';
  expect(await parseEverySplit(text)).toEqual([
    { line: 1, fields: ["id", "note"] },
    { line: 2, fields: ["1", 'a, "b"\r\nc'] },
    { line: 4, fields: ["2", "plain"] },
  ]);
});

test("LF, CRLF and lone CR end records; blank lines are skipped but counted", async () => {
  expect(await parseEverySplit("a,b\n\n1,2\r\n\r\n3,4\r5,6")).toEqual([
    { line: 1, fields: ["a", "b"] },
    { line: 3, fields: ["1", "2"] },
    { line: 5, fields: ["3", "4"] },
    { line: 6, fields: ["5", "6"] },
  ]);
});

test("empty fields, a trailing comma, and a quote inside a bare field", async () => {
  expect(await parseEverySplit('a,,c,\n"",x"y,""""\n')).toEqual([
    { line: 1, fields: ["a", "", "c", ""] },
    { line: 2, fields: ["", 'x"y', '"'] },
  ]);
});

test("malformed records carry an error, and the records after them still parse", async () => {
  expect(await parseEverySplit('a,"b"c,d\n1,2\n"open\n')).toEqual([
    { line: 1, fields: ["a", "bc", "d"], error: "field 2 has text after its closing quote" },
    { line: 2, fields: ["1", "2"] },
    { line: 3, fields: ["open\n"], error: "field 1 opens a quote that is never closed" },
  ]);
});

test.each([[";"], ["\t"]])(
  "another delimiter (%j): it separates fields, and commas are data",
  async (delimiter) => {
    const text = `id${delimiter}note\n1${delimiter}"a${delimiter}b, c"\n2${delimiter}x,y\n`;
    const records: CsvRecord[] = [];
    for await (const record of parseCsv([...text], delimiter)) records.push(record);
    expect(records).toEqual([
      { line: 1, fields: ["id", "note"] },
      { line: 2, fields: ["1", `a${delimiter}b, c`] },
      { line: 3, fields: ["2", "x,y"] },
    ]);
  },
);

test("a delimiter that would make records ambiguous is refused", async () => {
  for (const delimiter of ['"', "\n", "", ";;"]) {
    await expect(parseCsv(["a"], delimiter).next()).rejects.toThrow(TypeError);
  }
});
