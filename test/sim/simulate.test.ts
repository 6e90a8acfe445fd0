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
