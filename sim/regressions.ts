/**
 * Named regression cases: scripts of traffic and faults that once broke a promise (the three
 * defects the simulator was built to cure, and what it found since). Each runs in the simulated
 * world with the same checks as a seed, and returns the problems found (none: it holds).
 * @module
 */
import type { TrackEvent } from "../src/core/event-schema.ts";
import { quietScenario, type Scenario } from "./scenario.ts";
import { type SimResult, Simulation } from "./simulate.ts";
import { requestOf, rowsPart } from "./traffic.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** One case: what it guards, and the script. */
export interface RegressionCase {
  readonly name: string;
  readonly scenario: Scenario;
  readonly script: (simulation: Simulation, start: number) => void | Promise<void>;
  /** Run after the script's days (the liveness phase and the final checks follow). */
  readonly after?: (simulation: Simulation) => void | Promise<void>;
}

const identify = (id: string, metadata: Record<string, string | number | null> = {}) =>
  requestOf(`identify ${id}`, [rowsPart("users", [{ user_id: id, metadata }])], { id, metadata });

let eventCounter = 1_000_000;
const track = (userId: string, requestId?: string) => {
  const event: TrackEvent = { user_id: userId, event_name: "sim_event", metadata: { n: eventCounter++ } };
  return requestOf(`track ${userId}`, [{ kind: "events", events: [event] }], event, requestId);
};
const remove = (ids: string[]) =>
  requestOf(`delete ${ids.join(",")}`, [{ kind: "deletions", target: "users", ids }], { ids });

/** The cases, by name. */
export const REGRESSIONS: readonly RegressionCase[] = [
  {
    // Defect: an event's id came from its Idempotency-Key alone, so a new /v1/track reusing a key
    // after the 24-hour window was answered 202 and then dropped as a copy of the first event
    // (still queued: Userpilot was down for a day and a half).
    name: "a request id used again after its window is a new event, not a dropped copy",
    scenario: quietScenario(101, 3, {
      userpilot: { ...quietScenario(0, 1).userpilot, outages: [] },
    }),
    script: (sim, start) => {
      sim.userpilot.faults = {
        ...sim.userpilot.faults,
        outages: [{ from: start + HOUR, to: start + 36 * HOUR, kind: "5xx" }],
      };
      sim.world.at(start, "script", () => sim.send(identify("u1", { plan: "pro" })));
      sim.world.at(start + 2 * HOUR, "script", () => sim.send(track("u1", "key-1")));
      sim.world.at(start + 27 * HOUR, "script", () => sim.send(track("u1", "key-1")));
    },
  },
  {
    // Defect: deletes were never set aside and the oldest was always retried first, so one that
    // Userpilot refused held every later delete (and the rows and events of those ids) for ever.
    name: "a delete Userpilot refuses is set aside and blocks no other delete",
    scenario: quietScenario(102, 1, { traffic: { ...quietScenario(0, 1).traffic, poison: ["bad-id"] } }),
    script: (sim, start) => {
      for (let i = 2; i < 10; i++) {
        sim.world.at(start, "script", () => sim.send(identify(`u${i}`, { plan: "pro" })));
      }
      sim.world.at(start + 10 * MINUTE, "script", () => sim.send(remove(["bad-id"])));
      // Deletes after it go through (and are the evidence that weighs its refusals).
      for (let i = 2; i < 10; i++) {
        sim.world.at(start + (10 + i * 10) * MINUTE, "script", () => sim.send(remove([`u${i}`])));
      }
      sim.world.at(start + 2 * HOUR, "script", () => sim.send(identify("u20", { plan: "free" })));
    },
    after: (sim) => {
      const entries = sim.object.storage.sql.exec<{ kind: string; id: string }>(
        "SELECT kind, id FROM set_aside",
      ).toArray();
      if (!entries.some((entry) => entry.kind === "deletions" && entry.id === "bad-id")) {
        sim.fail(`the refused delete of bad-id is not set aside (set aside: ${JSON.stringify(entries)})`);
      }
    },
  },
  {
    // Defect: events and deletion tombstones were never purged, so the object's SQLite grew with
    // every event for ever (until storage ran out and every Queue message failed).
    name: "the object's storage stays flat under steady traffic once past the retention windows",
    scenario: quietScenario(103, 7),
    script: (sim, start) => {
      let n = 0;
      const sizes: number[] = [];
      const tick = () =>
        sim.world.after(MINUTE, "traffic", () => {
          if (sim.calm) return;
          const user = `user-${n++ % 200}`;
          sim.send(identify(user, { seen: n }));
          sim.send(track(user));
          if (n % 240 === 0) sim.send(remove([`user-${(n / 240) % 200}`]));
          tick();
        });
      tick();
      for (let day = 1; day <= 7; day++) {
        sim.world.at(start + day * DAY, "measure", () => sizes.push(sim.object.storage.sql.databaseSize));
      }
      sim.world.at(start + 7 * DAY - 1, "check", () => {
        // Past every retention window (3 h, 48 h for deletes) by day 3: days 3 and 7 hold the same.
        const settled = sizes[2]!;
        const last = sizes.at(-1)!;
        if (last > settled * 1.25) {
          sim.fail(
            `the object's SQLite grew from ${settled} bytes on day 3 to ${last} on day 7 (sizes: ${
              sizes.join(", ")
            })`,
          );
        }
      });
    },
  },
];

/** Run one case: its script for its days, then calm, then the checks. */
export async function runRegression(regression: RegressionCase): Promise<SimResult> {
  const simulation = await Simulation.create(regression.scenario);
  const { scenario } = simulation;
  simulation.runDeletionJobs();
  await regression.script(simulation, scenario.start);
  await simulation.run(scenario.start + scenario.days * DAY);
  if (!simulation.failed) await regression.after?.(simulation);
  const drainMinutes = simulation.failed ? 0 : await simulation.runLiveness();
  const final = await simulation.finalChecks();
  return simulation.result(drainMinutes, final);
}
