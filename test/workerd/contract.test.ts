import { test } from "vitest";
import { contractCases } from "../contract/suite.ts";

for (const { name, run } of contractCases) test(name, run);
