import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { expect, test } from "vitest";

// Guard: a test that rolls dice (fault rates between 0 and 1, or fast-check properties) takes its
// seed from test/support/seed.ts, which prints it and lets TEST_SEED replay a failure exactly.
const root = new URL("./", import.meta.url).pathname;

function* testFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== "fixtures") yield* testFiles(path);
    else if (/\.ts$/.test(entry.name)) yield path;
  }
}

const RANDOM_FAULT = /\b(?:rate429|rate5xx|dropRate|jobFailureRate|latencyRate|rejectRate)\s*:\s*0\.\d/;

test("every test that injects random faults or runs properties uses a printed, replayable seed", () => {
  const rolling = [...testFiles(root)].filter((path) => {
    const text = readFileSync(path, "utf8");
    return RANDOM_FAULT.test(text) || /\bfc\.(?:assert|asyncProperty|property)\(/.test(text);
  });
  expect(rolling.length).toBeGreaterThan(5);
  const unseeded = rolling.filter((path) => !/support\/seed\.ts"/.test(readFileSync(path, "utf8")));
  expect(unseeded.map((path) => relative(root, path))).toEqual([]);
});
