import { spawnSync } from "node:child_process";
import process from "node:process";
import { describe, expect, test } from "vitest";
import { HAS_SQLITE } from "./sqlite.ts";

// The simulator has teeth: each planted bug (sim/bugs.ts), applied alone to a copy of the
// sources, is caught within the CI seed budget. A simulator that passes with a bug in it would
// hide every other defect.
describe.runIf(HAS_SQLITE)("each planted bug is caught", async () => {
  const { PLANTED_BUGS, plant } = await import("../../sim/bugs.ts");
  const { CI_SEEDS } = await import("../../sim/budget.ts");
  test.each(PLANTED_BUGS.map((bug) => [bug.name, bug] as const))("%s", (_, bug) => {
    const copy = plant(bug);
    const run = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        `${copy}/sim/cli.ts`,
        "--seeds",
        String(CI_SEEDS.count),
        "--from",
        String(CI_SEEDS.from),
        "--days",
        String(CI_SEEDS.days),
        "--stop-on-failure",
        "--quiet",
      ],
      { encoding: "utf8", timeout: 540_000 },
    );
    const caught = /seed (\d+): FAILED/.exec(run.stdout);
    console.log(`"${bug.name}": ${caught ? `caught by seed ${caught[1]}` : "NOT caught"}`);
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(1);
    expect(caught).not.toBeNull();
  }, 600_000);
});
