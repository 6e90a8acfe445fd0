import { describe, expect, test } from "vitest";
import { BUCKET_MINUTES, historyOf } from "../../../src/worker/admin/history.ts";
import { type Sample, SAMPLE_MINUTES } from "../../../src/worker/store/samples.ts";

describe("historyOf", () => {
  const now = 100_000;
  const at = (ago: number, pending: number, delivered: number): Sample => ({
    minute: now - ago,
    pending,
    delivered,
  });

  test("carries each sample forward, counts each minute's rise in delivered rows, and never a fall", () => {
    const samples = [at(20, 1_000, 0), at(10, 400, 600), at(9, 400, 550), at(0, 0, 1_550)];
    const { points, hours } = historyOf(samples, now);
    expect(points).toHaveLength(SAMPLE_MINUTES / BUCKET_MINUTES);
    expect(points.slice(0, -5).every((point) => point.backlog === null || point.minute >= now - 20)).toBe(
      true,
    );
    const last = points.slice(-5);
    // Minutes now-24..now-20 hold nothing and then 1,000 pending; now-19..now-15 still 1,000.
    expect(last.map((point) => point.backlog)).toEqual([1_000, 1_000, 1_000, 400, 400]);
    // The rise of 600 at now-10 and the 1,000 at now; the fall at now-9 counts as nothing.
    expect(last.map((point) => point.deliveredPerMinute)).toEqual([null, 0, 600 / 5, 0, 1_000 / 5]);
    expect(hours.at(-1)).toEqual({ minute: now - 59, backlog: 0, delivered: 1_600 });
    expect(hours[0]).toEqual({ minute: now - SAMPLE_MINUTES + 1, backlog: null, delivered: null });
  });

  test("an empty history is all gaps", () => {
    const { points } = historyOf([], now);
    expect(points.every((point) => point.backlog === null && point.deliveredPerMinute === null)).toBe(true);
  });
});
