import { expect, test } from "vitest";
import { InputError } from "../../src/cli/errors.ts";
import { type ArrayElement, readJsonArray, splitJsonArray } from "../../src/cli/readers/json-array.ts";

async function split(pieces: Iterable<string>): Promise<ArrayElement[]> {
  const elements: ArrayElement[] = [];
  for await (const element of splitJsonArray(pieces)) elements.push(element);
  return elements;
}

async function splitEveryWay(text: string): Promise<ArrayElement[]> {
  const whole = await split([text]);
  expect(await split([...text])).toEqual(whole);
  for (let at = 0; at <= text.length; at++) {
    expect(await split([text.slice(0, at), text.slice(at)])).toEqual(whole);
  }
  return whole;
}

test("objects, nested arrays, strings with brackets and escapes, and bare values", async () => {
  const text = ' [ {"a":"]}\\"{["} , [1,[2]],"x\\\\",12.5e3,null ,true]\n';
  expect((await splitEveryWay(text)).map((element) => element.text)).toEqual([
    '{"a":"]}\\"{["}',
    "[1,[2]]",
    '"x\\\\"',
    "12.5e3",
    "null",
    "true",
  ]);
  expect(await splitEveryWay("[]")).toEqual([]);
  expect((await splitEveryWay("[1,2,]")).map((element) => element.index)).toEqual([0, 1]);
});

test("a broken element is one rejected record; the elements around it are read", async () => {
  const records = [];
  for await (
    const record of readJsonArray(toAsync(['[{"user_id":"a"},{oops: "SECRET"},', '{"user_id":"b"}]']))
  ) {
    records.push(record);
  }
  expect(records).toEqual([
    { at: 0, row: { user_id: "a" } },
    { at: 1, issues: [{ path: "", message: "element is not valid JSON" }] },
    { at: 2, row: { user_id: "b" } },
  ]);
});

test.each([
  ["", "the input is empty: expected a JSON array"],
  ['{"user_id":"a"}', "the input is not a JSON array: it must start with ["],
  ["[1 2]", "the JSON array is malformed after element 0: expected , or ]"],
  ["[1,,2]", "the JSON array is malformed after element 0: an element is missing between two commas"],
  ['[{"a":1}', "the JSON array is malformed after element 0: the array is not closed with ]"],
  ['[{"a":"cut', "the JSON array is malformed before its first element: the array is not closed with ]"],
  ["[1] [2]", "the input has more text after the JSON array's closing ]"],
])("a broken array stops the run: %j", async (text, message) => {
  const error = await split([text]).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(InputError);
  expect((error as Error).message).toContain(message);
});

async function* toAsync(pieces: string[]): AsyncGenerator<string> {
  yield* pieces;
}
