import { expect, test } from "vitest";
import type { ColumnType } from "../../src/cli/args.ts";
import { parseCsv } from "../../src/cli/readers/csv-parser.ts";
import { isoDate, readCsvRows } from "../../src/cli/readers/csv.ts";
import { InputError, UsageError } from "../../src/cli/errors.ts";
import { decodeUtf8 } from "../../src/cli/input.ts";
import { readNdjson } from "../../src/cli/readers/ndjson.ts";
import type { InputRecord } from "../../src/cli/readers/index.ts";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

async function collect(records: AsyncIterable<InputRecord>): Promise<InputRecord[]> {
  const all: InputRecord[] = [];
  for await (const record of records) all.push(record);
  return all;
}

async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}

test("NDJSON: numbered by line, blank lines skipped, CRLF and a missing final newline accepted", async () => {
  const text = bytes('{"user_id":"a"}\r\n\n  \nnot json SECRET\n{"user_id":"é"}');
  const whole = await collect(readNdjson(chunks(text)));
  expect(whole).toEqual([
    { at: 1, row: { user_id: "a" } },
    { at: 4, issues: [{ path: "", message: "line is not valid JSON" }] },
    { at: 5, row: { user_id: "é" } },
  ]);
  // Split anywhere, even inside the two bytes of "é", the lines are the same.
  for (let at = 0; at <= text.length; at++) {
    expect(await collect(readNdjson(chunks(text.slice(0, at), text.slice(at))))).toEqual(whole);
  }
});

test("NDJSON: a line of broken UTF-8 is one rejected row", async () => {
  const broken = new Uint8Array([0x7b, 0xff, 0x7d, 0x0a]);
  expect(await collect(readNdjson(chunks(broken, bytes('{"user_id":"b"}\n'))))).toEqual([
    { at: 1, issues: [{ path: "", message: "line is not valid UTF-8" }] },
    { at: 2, row: { user_id: "b" } },
  ]);
});

test("decodeUtf8 stops the run on broken UTF-8, for formats read as text", async () => {
  const pieces = [];
  const error = await (async () => {
    for await (const piece of decodeUtf8(chunks(bytes("ok"), new Uint8Array([0xc3, 0x28])))) {
      pieces.push(piece);
    }
  })().catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(InputError);
});

function csvRows(
  text: string,
  options: { kind?: "users" | "companies"; types?: Record<string, ColumnType>; emptyAsNull?: boolean } = {},
): Promise<InputRecord[]> {
  return collect(readCsvRows(parseCsv([text]), {
    kind: options.kind ?? "users",
    columnTypes: new Map(Object.entries(options.types ?? {})),
    emptyAsNull: options.emptyAsNull ?? false,
  }));
}

test("CSV rows: id columns, typed metadata, empty cells left out or null", async () => {
  const text = "user_id,company_id,seats,vip,since,name\nu1,acme,5,Y,2024-01-02T03:04:05Z,Ann\nu2,,,,,\n";
  const types = { seats: "number", vip: "boolean", since: "date" } as const;
  expect(await csvRows(text, { types })).toEqual([
    {
      at: 2,
      row: {
        user_id: "u1",
        company_id: "acme",
        metadata: { seats: 5, vip: true, since: "2024-01-02T03:04:05.000Z", name: "Ann" },
      },
    },
    { at: 3, row: { user_id: "u2" } },
  ]);
  expect((await csvRows(text, { types, emptyAsNull: true }))[1]).toEqual({
    at: 3,
    row: { user_id: "u2", metadata: { seats: null, vip: null, since: null, name: null } },
  });
});

test("CSV rows: the id headers are found in any case and trimmed; other headers keep their case", async () => {
  expect(await csvRows("USER_ID, Company_Id ,Plan\nu1,acme,pro\n")).toEqual([
    { at: 2, row: { user_id: "u1", company_id: "acme", metadata: { Plan: "pro" } } },
  ]);
  expect(await csvRows(" User_Id \nu2\n")).toEqual([{ at: 2, row: { user_id: "u2" } }]);
  expect(await csvRows("COMPANY_ID,seats\nacme,3\n", { kind: "companies", types: { seats: "number" } }))
    .toEqual([{ at: 2, row: { company_id: "acme", metadata: { seats: 3 } } }]);
});

test("CSV rows: companies; a column named __proto__ stays data for the schema to reject", async () => {
  expect(await csvRows("company_id,__proto__\nacme,x\n", { kind: "companies" })).toEqual([
    { at: 2, row: JSON.parse('{"company_id":"acme","metadata":{"__proto__":"x"}}') },
  ]);
});

test.each([
  ["", InputError, "the CSV input is empty"],
  ["name\nx\n", InputError, "the CSV header has no user_id column"],
  ["user_id,a,a\n", InputError, 'the CSV header names column "a" twice'],
  ["user_id,seats,USER_ID\n", InputError, 'the CSV header names column "user_id" twice (in any case)'],
  ["user_id,\n", InputError, "the CSV header's column 2 has no name"],
  ["user_id,plan\n", UsageError, '--types names column "seats", which the CSV header lacks'],
])("CSV header problems stop the run: %j", async (text, type, message) => {
  const error = await csvRows(text, { types: { seats: "number" } }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(type);
  expect((error as Error).message).toContain(message);
});

test.each([
  ["2024-05-01", "2024-05-01T00:00:00.000Z"],
  ["2024-05-01T13:45", "2024-05-01T13:45:00.000Z"],
  ["2024-05-01 13:45:00.5", "2024-05-01T13:45:00.500Z"],
  ["2024-05-01T13:45:00+02:00", "2024-05-01T11:45:00.000Z"],
  ["2024-05-01T13:45:00-0130", "2024-05-01T15:15:00.000Z"],
  ["2024-05-01T13:45:00.123456z", "2024-05-01T13:45:00.123Z"],
  ["2024-02-29", "2024-02-29T00:00:00.000Z"],
])("isoDate(%j) is %j", (text, iso) => {
  expect(isoDate(text)).toBe(iso);
});

test.each([
  "2023-02-29",
  "2024-13-01",
  "2024-05-01T24:00",
  "05/01/2024",
  "2024-05-01T10:00+25:00",
  "yesterday",
])(
  "isoDate(%j) is not a date",
  (text) => {
    expect(isoDate(text)).toBeUndefined();
  },
);
