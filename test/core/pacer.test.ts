import { describe, expect, test } from "vitest";
import { dueRequests, IDLE_PACER, onPacedOutcome, type PacerConfig } from "../../src/core/pacer.ts";

const config: PacerConfig = {
  intervalMs: 120,
  catchUpMs: 120,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  setAsideAfter: 4,
};
const at = (now: number) => ({ now, random: () => 0.999_999 });

describe("the pacer of one-at-a-time requests (track, deletes)", () => {
  test("requests take one slot each, one interval apart; a batch sent together takes as many slots", () => {
    expect(dueRequests(IDLE_PACER, config, 0, 10)).toBe(1);
    // Idling earns one slot of credit, no more: after a first request, a second may go at once.
    let state = onPacedOutcome(IDLE_PACER, { type: "sent" }, null, config, at(1_000)).state;
    expect(state.nextAt).toBe(1_000);
    state = onPacedOutcome(state, { type: "sent" }, null, config, at(1_000)).state;
    expect(state.nextAt).toBe(1_120);
    expect(dueRequests(state, config, 1_119, 10)).toBe(0);
    expect(dueRequests(state, config, 1_120, 10)).toBe(1);
    // Late by three intervals: four may go together, never more than the cap.
    expect(dueRequests(state, config, 1_120 + 360, 10)).toBe(4);
    expect(dueRequests(state, config, 1_000_000, 10)).toBe(10);
    // Idle for long, one slot of credit: ten sent together at 5,000 take the slots from 4,880 on.
    for (let i = 0; i < 10; i++) {
      state = onPacedOutcome(state, { type: "sent" }, null, config, at(5_000)).state;
    }
    expect(state.nextAt).toBe(5_000 + 9 * 120);
    // Over any long span the pace is one per interval: 500 a minute at 120 ms.
    let pacer = IDLE_PACER;
    let now = 0;
    let sent = 0;
    while (now < 60_000) {
      const due = dueRequests(pacer, config, now, 10);
      for (let i = 0; i < due; i++) {
        pacer = onPacedOutcome(pacer, { type: "sent" }, null, config, at(now)).state;
      }
      sent += due;
      now += 37; // an alarm at an odd cadence
    }
    expect(sent).toBeLessThanOrEqual(501);
    expect(sent).toBeGreaterThan(490);
  });

  test("with no catching up (deletes), every two requests are at least an interval apart", () => {
    const strict = { ...config, intervalMs: 2_000, catchUpMs: 0 };
    let state = onPacedOutcome(IDLE_PACER, { type: "sent" }, null, strict, at(10_000)).state;
    expect(state.nextAt).toBe(12_000);
    expect(dueRequests(state, strict, 11_999, 10)).toBe(0);
    state = onPacedOutcome(state, { type: "sent" }, null, strict, at(15_000)).state;
    expect(state.nextAt).toBe(17_000);
  });

  test("429 waits at least Retry-After; 5xx backs off exponentially; a success resets the backoff", () => {
    let state = onPacedOutcome(
      IDLE_PACER,
      { type: "transient", message: "429", retryAfterMs: 30_000 },
      null,
      config,
      at(0),
    )
      .state;
    expect(state.nextAt).toBeGreaterThanOrEqual(30_000);
    state = onPacedOutcome(state, { type: "transient", message: "503" }, null, config, at(30_000)).state;
    expect(state.streak).toBe(2);
    expect(state.nextAt - 30_000).toBeGreaterThan(1_000);
    state = onPacedOutcome(state, { type: "sent" }, null, config, at(40_000)).state;
    expect(state).toMatchObject({ streak: 0, delivered: 1 });
    expect(state.nextAt).toBeGreaterThan(30_000);
  });

  test("a refused request waits alone while others go, and is set aside only after refusals with others delivered between", () => {
    let state = IDLE_PACER;
    let record = null as null | { count: number; epoch: number };
    for (let round = 1; round <= 4; round++) {
      const decided = onPacedOutcome(
        state,
        { type: "refused", message: "400" },
        record,
        config,
        at(round * 10_000),
      );
      expect(decided.state.nextAt).toBeLessThanOrEqual(round * 10_000 + 120); // the others are not held back
      expect(decided.effect).toMatchObject({ type: "refused", setAside: round === 4 });
      if (decided.effect.type === "refused") {
        expect(decided.effect.retryAt).toBeGreaterThan(round * 10_000);
        record = decided.effect.record;
      }
      // Another request goes through between two refusals: the evidence it is this one.
      state = onPacedOutcome(decided.state, { type: "sent" }, null, config, at(round * 10_000 + 500)).state;
    }
    // Refused again and again while nothing else gets through: never set aside, and not retried
    // at the stream's pace either: the stream backs off as after any failure, up to its longest.
    let alone = null as null | { count: number; epoch: number };
    let quiet = IDLE_PACER;
    let now = 0;
    const waits: number[] = [];
    for (let round = 1; round <= 10; round++) {
      const decided = onPacedOutcome(quiet, { type: "refused", message: "400" }, alone, config, at(now));
      expect(decided.effect).toMatchObject({ setAside: false });
      if (decided.effect.type === "refused") alone = decided.effect.record;
      quiet = decided.state;
      waits.push(quiet.nextAt - now);
      now = quiet.nextAt;
    }
    expect(waits[0]).toBeLessThanOrEqual(config.intervalMs); // the first refusal is weighed at once
    expect(waits[1]).toBeGreaterThan(config.baseDelayMs * 0.99); // (full jitter, at its top here)
    for (let i = 2; i < waits.length; i++) expect(waits[i]).toBeGreaterThanOrEqual(waits[i - 1]!);
    expect(waits.at(-1)).toBeGreaterThan(config.maxDelayMs * 0.99);
    // One request through ends the backoff.
    expect(onPacedOutcome(quiet, { type: "sent" }, null, config, at(now)).state.streak).toBe(0);
  });
});
