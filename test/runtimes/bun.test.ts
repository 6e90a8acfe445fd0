import { test } from "bun:test";
import { contractCases } from "../contract/suite.ts";

for (const { name, run } of contractCases) test(name, run);
