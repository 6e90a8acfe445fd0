import { describe, expect, test } from "vitest";
import {
  beginJob,
  initialSlotState,
  jobAllowanceMs,
  NEVER_GIVE_UP,
  nextAction,
  onOutcome,
  onStepError,
  type Outcome,
  type RowsEffect,
  type SlotState,
} from "../../src/core/delivery-policy.ts";
import { recordSoloFailure, suspectBatchSize } from "../../src/core/suspects.ts";
import { POLICY_CONFIG } from "../support/policy-config.ts";

const config = POLICY_CONFIG;
// Jitter at its top: every backoff is its ceiling, so the table can name exact times.
const random = () => 0.999_999_999;
const job = (status: string, extra: Record<string, unknown> = {}) => ({ job_id: "j1", status, ...extra });
const both = { fresh: true, suspect: true };
const freshOnly = { fresh: true, suspect: false };

/** A slot with a job of `rows` rows of `lane` submitted at `at` and running (when `running`). */
function inFlight(rows: number, lane: "fresh" | "suspect" = "fresh", at = 0, running = true): SlotState {
  const begun = beginJob(initialSlotState(config), lane, rows, at);
  return running
    ? onOutcome(begun, { type: "submitted", job: job("queued") }, config, { now: at, random }).state
    : begun;
}

function step(state: SlotState, outcome: Outcome, now: number): { state: SlotState; rows: RowsEffect } {
  return onOutcome(state, outcome, config, { now, random });
}

describe("the delivery policy, outcome by outcome", () => {
  // Each row: the slot before, what the driver saw, what must become of the rows, and the wait.
  const cases: {
    name: string;
    before: SlotState;
    outcome: Outcome;
    rows: RowsEffect;
    /** When the next submission (or poll) may go, relative to now (1,000,000). */
    next: { submitIn?: number; pollIn?: number; atLeast?: number; atMost?: number };
  }[] = [
    {
      name: "submitted: poll after the interval",
      before: beginJob(initialSlotState(config), "fresh", 10, 1_000_000),
      outcome: { type: "submitted", job: job("queued") },
      rows: { type: "keep" },
      next: { pollIn: 5_000 },
    },
    {
      name: "completed: settle, and submit the next job at once",
      before: inFlight(10, "fresh", 1_000_000 - 10_000),
      outcome: { type: "polled", job: job("completed") },
      rows: { type: "settle" },
      next: { submitIn: 0 },
    },
    {
      name: "409: release, wait at least the poll interval",
      before: inFlight(10, "fresh", 1_000_000, false),
      outcome: { type: "conflict", message: "409" },
      rows: { type: "release" },
      next: { atLeast: 5_000, atMost: 5_000 },
    },
    {
      name: "413 for many rows: release, no wait, half the rows next",
      before: inFlight(10_000, "fresh", 1_000_000, false),
      outcome: { type: "too-large", message: "413" },
      rows: { type: "release" },
      next: { submitIn: 0 },
    },
    {
      name: "413 for one row: it failed alone, back off",
      before: inFlight(1, "fresh", 1_000_000, false),
      outcome: { type: "too-large", message: "413" },
      rows: { type: "failed-alone", reason: expect.stringMatching(/413 to this row alone/) },
      next: { atLeast: 999, atMost: 1_000 },
    },
    {
      name: "400 for many rows: they become suspects in jobs of half the size",
      before: inFlight(10_000, "fresh", 1_000_000, false),
      outcome: { type: "refused", message: "400" },
      rows: { type: "suspect", limit: 5_000 },
      next: { atLeast: 999, atMost: 1_000 },
    },
    {
      name: "422 for one row: it failed alone",
      before: inFlight(1, "suspect", 1_000_000, false),
      outcome: { type: "refused", message: "422" },
      rows: { type: "failed-alone", reason: expect.stringMatching(/refused this row alone/) },
      next: { atLeast: 999, atMost: 1_000 },
    },
    {
      name: "429 with Retry-After: release, wait at least Retry-After",
      before: inFlight(10, "fresh", 1_000_000, false),
      outcome: { type: "transient", message: "429", retryAfterMs: 30_000 },
      rows: { type: "release" },
      next: { atLeast: 30_000, atMost: 30_000 },
    },
    {
      name: "Retry-After past the cap: capped",
      before: inFlight(10, "fresh", 1_000_000, false),
      outcome: { type: "transient", message: "429", retryAfterMs: 3_600_000 },
      rows: { type: "release" },
      next: { atLeast: 60_000, atMost: 60_000 },
    },
    {
      name: "5xx, network error or timeout on submission: release, back off",
      before: inFlight(10, "fresh", 1_000_000, false),
      outcome: { type: "transient", message: "503" },
      rows: { type: "release" },
      next: { atLeast: 999, atMost: 1_000 },
    },
    {
      name: "a job that failed with many rows: suspects in jobs of half the size",
      before: inFlight(7, "fresh", 1_000_000 - 60_000),
      outcome: { type: "polled", job: job("failed") },
      rows: { type: "suspect", limit: 4 },
      next: { atLeast: 999, atMost: 1_000 },
    },
    {
      name: "a job that failed with one row: it failed alone",
      before: inFlight(1, "suspect", 1_000_000 - 60_000),
      outcome: { type: "polled", job: job("failed") },
      rows: { type: "failed-alone", reason: expect.stringMatching(/failed alone/) },
      next: { atLeast: 999, atMost: 1_000 },
    },
    {
      name: "a status this code does not know: keep polling",
      before: inFlight(10, "fresh", 1_000_000 - 60_000),
      outcome: { type: "polled", job: job("reticulating") },
      rows: { type: "keep" },
      next: { pollIn: 5_000 },
    },
    {
      name: "running past its allowance: its rows become suspects",
      before: inFlight(10, "fresh", 1_000_000 - jobAllowanceMs(10, 1_200) - 1),
      outcome: { type: "polled", job: job("processing") },
      rows: { type: "suspect", limit: 5 },
      next: { atLeast: 999, atMost: 1_000 },
    },
    {
      name: "a poll that fails: poll again after a backoff",
      before: inFlight(10, "fresh", 1_000_000 - 60_000),
      outcome: { type: "transient", message: "502" },
      rows: { type: "keep" },
      next: { pollIn: 1_000 },
    },
    {
      name: "a poll that keeps failing past the job's allowance: its rows go again",
      before: inFlight(10, "fresh", 1_000_000 - jobAllowanceMs(10, 1_200) - 1),
      outcome: { type: "transient", message: "502" },
      rows: { type: "suspect", limit: 5 },
      next: { atLeast: 999, atMost: 1_000 },
    },
    {
      name: "a job Userpilot forgot (404): release, back off",
      before: inFlight(10, "fresh", 1_000_000 - 60_000),
      outcome: { type: "job-gone", message: "404" },
      rows: { type: "release" },
      next: { atLeast: 999, atMost: 1_000 },
    },
    {
      name: "401 on submission: release, back off (the object never gives up)",
      before: inFlight(10, "fresh", 1_000_000, false),
      outcome: { type: "unexpected", message: "401" },
      rows: { type: "release" },
      next: { atLeast: 999, atMost: 1_000 },
    },
    {
      name: "a submission whose answer was lost (restart): release, resubmit at once",
      before: inFlight(10, "fresh", 1_000_000 - 5, false),
      outcome: { type: "lost" },
      rows: { type: "release" },
      next: { submitIn: 0 },
    },
  ];

  for (const row of cases) {
    test(row.name, () => {
      const now = 1_000_000;
      const { state, rows } = step(row.before, row.outcome, now);
      expect(rows).toEqual(row.rows);
      const action = nextAction(state, both, config, now);
      if (row.next.pollIn !== undefined) {
        expect(action.type).toBe("poll");
        expect(Math.round((action as { at: number }).at - now)).toBe(row.next.pollIn);
      } else if (row.next.submitIn === 0) {
        expect(action.type).toBe("submit");
      } else {
        expect(action.type).toBe("wait");
        const wait = (action as { until: number }).until - now;
        expect(wait).toBeGreaterThanOrEqual(row.next.atLeast!);
        expect(wait).toBeLessThanOrEqual(row.next.atMost!);
      }
    });
  }
});

describe("the delivery policy over time", () => {
  test("backoff doubles per failure up to the cap, and a completed job resets it", () => {
    let state = initialSlotState(config);
    const waits: number[] = [];
    let now = 0;
    for (let i = 0; i < 9; i++) {
      state = beginJob(state, "fresh", 10, now);
      state = step(state, { type: "transient", message: "503" }, now).state;
      waits.push(state.notBefore - now);
      now = state.notBefore;
    }
    expect(waits.map((w) => Math.round(w))).toEqual([
      1_000,
      2_000,
      4_000,
      8_000,
      16_000,
      32_000,
      60_000,
      60_000,
      60_000,
    ]);
    state = beginJob(state, "fresh", 10, now);
    state = step(state, { type: "submitted", job: job("queued") }, now).state;
    state = step(state, { type: "polled", job: job("completed") }, now + 10).state;
    expect(state.streak).toBe(0);
    state = beginJob(state, "fresh", 10, now + 10);
    expect(
      Math.round(step(state, { type: "transient", message: "503" }, now + 10).state.notBefore - now - 10),
    )
      .toBe(1_000);
  });

  test("413 halves the fresh lane's job size; each completed job doubles it back", () => {
    let state = beginJob(initialSlotState(config), "fresh", 10_000, 0);
    state = step(state, { type: "too-large", message: "413" }, 0).state;
    expect(nextAction(state, freshOnly, config, 0)).toEqual({
      type: "submit",
      lane: "fresh",
      maxRows: 5_000,
    });
    state = beginJob(state, "fresh", 5_000, 0);
    state = step(state, { type: "too-large", message: "413" }, 0).state;
    expect(nextAction(state, freshOnly, config, 0)).toMatchObject({ maxRows: 2_500 });
    state = beginJob(state, "fresh", 2_500, 0);
    state = step(state, { type: "submitted", job: job("completed") }, 0).state;
    expect(nextAction(state, freshOnly, config, 0)).toMatchObject({ maxRows: 5_000 });
  });

  test("the lanes take turns, so suspects and fresh rows never wait on each other", () => {
    let state = initialSlotState(config);
    const lanes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const action = nextAction(state, both, config, i);
      lanes.push((action as { lane: string }).lane);
      state = beginJob(state, (action as { lane: "fresh" | "suspect" }).lane, 1, i);
      state = step(state, { type: "submitted", job: job("completed") }, i).state;
    }
    expect(lanes).toEqual(["fresh", "suspect", "fresh", "suspect"]);
  });

  test("409s are waited out for ever by the object, and until conflictMs by a budgeted client", () => {
    const budgeted = { ...config, giveUp: { ...NEVER_GIVE_UP, conflictMs: 60_000 } };
    let state = initialSlotState(config);
    let now = 0;
    for (let i = 0; i < 100; i++) {
      expect(nextAction(state, freshOnly, config, now).type).toBe("submit");
      state = beginJob(state, "fresh", 1, now);
      state = step(state, { type: "conflict", message: "409" }, now).state;
      now = state.notBefore;
    }
    expect(now).toBeGreaterThan(60 * 60_000); // an hour of 409s, still trying
    expect(nextAction(state, freshOnly, budgeted, now)).toMatchObject({ type: "give-up" });
  });

  test("a driver's own failure is recorded and backed off, before a submission or a poll", () => {
    const idle = onStepError(initialSlotState(config), "settings: USERPILOT_API_KEY is not set", config, {
      now: 0,
      random,
    });
    expect(idle.lastError).toEqual({ message: "settings: USERPILOT_API_KEY is not set", at: 0 });
    expect(nextAction(idle, freshOnly, config, 0)).toMatchObject({ type: "wait" });
    const polling = onStepError(inFlight(10, "fresh", 0), "boom", config, { now: 10, random });
    expect(nextAction(polling, freshOnly, config, 10)).toEqual({ type: "poll", at: polling.job!.pollAt });
    expect(polling.job!.pollAt).toBeGreaterThan(10);
  });

  test("budgets: each runs out only for a driver that has one", () => {
    const budget = { requests: 3, jobs: 2, conflictMs: 1_000, unexpected: 1 };
    const client = { ...config, giveUp: budget };
    let state = initialSlotState(client);
    for (let i = 0; i < 3; i++) {
      state = beginJob(state, "fresh", 1, 0);
      state = onOutcome(state, { type: "transient", message: "503" }, client, { now: 0, random }).state;
    }
    expect(nextAction(state, freshOnly, client, 0)).toMatchObject({ type: "give-up" });
    expect(nextAction(state, freshOnly, config, 0)).toMatchObject({ type: "wait" });
    let jobs = initialSlotState(client);
    for (let i = 0; i < 2; i++) {
      jobs = onOutcome(inFlightFrom(jobs), { type: "polled", job: job("failed") }, client, { now: 0, random })
        .state;
    }
    expect(nextAction(jobs, freshOnly, client, 0)).toMatchObject({ type: "give-up" });
    const refused = onOutcome(
      beginJob(initialSlotState(client), "fresh", 1, 0),
      {
        type: "unexpected",
        message: "403",
      },
      client,
      { now: 0, random },
    ).state;
    expect(nextAction(refused, freshOnly, client, 0)).toMatchObject({ type: "give-up" });
  });
});

function inFlightFrom(state: SlotState): SlotState {
  const begun = beginJob(state, "fresh", 1, 0);
  return onOutcome(begun, { type: "submitted", job: job("queued") }, config, { now: 0, random }).state;
}

describe("suspects", () => {
  test("a job of suspects holds as many as every taken row's limit allows", () => {
    expect(suspectBatchSize([], 10)).toBe(1);
    expect(suspectBatchSize([5000, 5000, 5000], 10_000)).toBe(3);
    expect(suspectBatchSize([4, 4, 4, 4, 4, 1], 10_000)).toBe(4);
    expect(suspectBatchSize([8, 2, 8, 8], 10_000)).toBe(2);
    expect(suspectBatchSize([1, 8, 8], 10_000)).toBe(1);
    expect(suspectBatchSize([Infinity, Infinity, Infinity], 2)).toBe(2);
  });

  test("a solo failure counts only after another job completed since the last one counted", () => {
    let record = recordSoloFailure(null, 5, 3);
    expect(record).toEqual({ record: { count: 1, epoch: 5 }, setAside: false });
    // Nothing completed in between (Userpilot may be down): not counted.
    record = recordSoloFailure(record.record, 5, 3);
    expect(record.record.count).toBe(1);
    record = recordSoloFailure(record.record, 6, 3);
    expect(record).toEqual({ record: { count: 2, epoch: 6 }, setAside: false });
    record = recordSoloFailure(record.record, 9, 3);
    expect(record).toEqual({ record: { count: 3, epoch: 9 }, setAside: true });
  });
});
