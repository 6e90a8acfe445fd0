import { contractCases } from "../contract/suite.ts";

for (const { name, run } of contractCases) Deno.test(name, run);
