import { describe, expect, test } from "vitest";
import { nextPollDelay, pollProgress } from "../../src/core/poll.ts";

const job = (completed_rows?: unknown, total_rows: unknown = 10_000) => ({
  job_id: "j",
  status: "processing",
  completed_rows,
  total_rows,
});

describe("nextPollDelay", () => {
  test("polls just after the projected end when that comes before the interval", () => {
    // 8,000 rows in the last 8 s: the last 2,000 take about 2 s more, so wait 2,040 ms, not 5 s.
    expect(nextPollDelay(5_000, job(8_000), 8_000, { completedRows: 0, at: 0 })).toBe(2_040);
  });

  test("keeps the interval when the end is further away, unknown, or progress stalled", () => {
    expect(nextPollDelay(5_000, job(2_000), 10_000, { completedRows: 1_000, at: 5_000 })).toBe(5_000);
    expect(nextPollDelay(5_000, job(9_000), 10_000, undefined)).toBe(5_000);
    expect(nextPollDelay(5_000, job(undefined), 10_000, { completedRows: 0, at: 5_000 })).toBe(5_000);
    expect(nextPollDelay(5_000, job("9000"), 10_000, { completedRows: 0, at: 5_000 })).toBe(5_000);
    expect(nextPollDelay(5_000, job(9_000, null), 10_000, { completedRows: 0, at: 5_000 })).toBe(5_000);
    expect(nextPollDelay(5_000, job(4_000), 10_000, { completedRows: 4_000, at: 5_000 })).toBe(5_000);
    expect(nextPollDelay(5_000, job(4_000), 10_000, { completedRows: 4_500, at: 5_000 })).toBe(5_000);
  });

  test("keeps the interval when the counts leave nothing to wait for or make no sense", () => {
    // All rows counted but not yet completed (Userpilot may still be refreshing): no shortcut.
    expect(nextPollDelay(5_000, job(10_000), 10_000, { completedRows: 9_000, at: 5_000 })).toBe(5_000);
    expect(nextPollDelay(5_000, job(12_000), 10_000, { completedRows: 9_000, at: 5_000 })).toBe(5_000);
    // Counts whose arithmetic overflows (here to NaN).
    expect(nextPollDelay(5_000, job(1e308, -1e308), 10_000, { completedRows: -1e308, at: 5_000 })).toBe(
      5_000,
    );
  });

  test("never waits less than a tenth of the interval", () => {
    expect(nextPollDelay(5_000, job(9_999), 10_000, { completedRows: 0, at: 5_000 })).toBe(500);
  });

  test("pollProgress reads completed_rows only when total_rows is known too", () => {
    expect(pollProgress(job(3, 10), 7)).toEqual({ completedRows: 3, at: 7 });
    expect(pollProgress(job(3, null), 7)).toBeUndefined();
    expect(pollProgress(job(Number.NaN), 7)).toBeUndefined();
  });
});
