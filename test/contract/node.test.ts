import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { contractCases, contractSettings } from "./suite.ts";
import { SEED_TEXT } from "./seed-text.ts";

contractSettings.seedOverride = process.env["TEST_SEED"];
for (const { name, run } of contractCases) test(name, run);

test("the inlined seed text is the fixture file, unchanged", () => {
  expect(SEED_TEXT).toBe(
    readFileSync(new URL("../fixtures/seed-bulk-identify.txt", import.meta.url), "utf8"),
  );
});
