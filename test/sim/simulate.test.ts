import { spawnSync } from "node:child_process";
import process from "node:process";
import { describe, expect, test } from "vitest";
import { testSeed } from "../support/seed.ts";
import { HAS_SQLITE } from "./sqlite.ts";

// The delivery engine under the simulator (sim/): each seed is a scenario of days of traffic and
// faults, every table invariant checked all the way, then calm, then Userpilot checked against
// the reference model. A failure names the seed; `npm run simulate -- --seed N` replays it.
describe.runIf(HAS_SQLITE)("the simulator", async () => {
  const { CI_SEEDS } = await import("../../sim/budget.ts");
  const { simulate } = await import("../../sim/simulate.ts");
  const from = testSeed("sim/simulate.test.ts", CI_SEEDS.from);

  test(
    `seeds ${from}…${from + CI_SEEDS.count - 1} (up to ${CI_SEEDS.days} days each) keep every promise`,
    async () => {
      const failed: string[] = [];
      let days = 0;
      let events = 0;
      for (let seed = from; seed < from + CI_SEEDS.count; seed++) {
        const result = await simulate(seed, { maxDays: CI_SEEDS.days });
        days += result.stats.days;
        events += result.stats.events;
        if (!result.ok) {
          failed.push(
            `seed ${seed} (npm run simulate -- --seed ${seed} --days ${CI_SEEDS.days}): ${
              result.problems[0]
            }` +
              ` [${result.scenario.enabled.join(", ")}]`,
          );
        }
      }
      console.log(`simulated ${CI_SEEDS.count} seeds, ${days} days, ${events} events`);
      expect(failed).toEqual([]);
    },
    600_000,
  );

  test("a seed replays exactly", async () => {
    const seed = from + 8;
    const [first, second] = [await simulate(seed, { maxDays: 2 }), await simulate(seed, { maxDays: 2 })];
    expect(second.stats).toEqual(first.stats);
    expect(second.problems).toEqual(first.problems);
    expect(first.stats.events).toBeGreaterThan(100);
  }, 300_000);
});

describe.runIf(HAS_SQLITE)("npm run simulate", () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "sim/cli.ts", ...args], {
      encoding: "utf8",
      timeout: 60_000,
    });

  test("--help prints the options and exits 0; an unknown option is exit 2, named, with the usage", () => {
    const help = cli("--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--seed N +replay one seed/);
    expect(help.stdout).toMatch(/--stop-on-failure/);
    const wrong = cli("--sed", "3");
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/^simulate: Unknown option '--sed'/);
    expect(wrong.stderr).toMatch(/Usage: npm run simulate/);
  });
});
