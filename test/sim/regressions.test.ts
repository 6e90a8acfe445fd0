import { describe, expect, test } from "vitest";
import { HAS_SQLITE } from "./sqlite.ts";

// Scripts of traffic and faults that once broke a promise, in the simulated world (sim/regressions.ts).
describe.runIf(HAS_SQLITE)("regressions", async () => {
  const { REGRESSIONS, runRegression } = await import("../../sim/regressions.ts");
  test.each(REGRESSIONS.map((regression) => [regression.name, regression] as const))(
    "%s",
    async (_, regression) => {
      const result = await runRegression(regression);
      expect(result.problems).toEqual([]);
    },
    300_000,
  );
});
