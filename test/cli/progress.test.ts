import { expect, test } from "vitest";
import { formatDuration, newCounters, Progress, type ProgressMode } from "../../src/cli/progress.ts";

function progress(mode: ProgressMode, clock: { now: number }) {
  const out: string[] = [];
  const err: string[] = [];
  const reporter = new Progress({
    mode,
    kind: "users",
    dryRun: false,
    location: "line",
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    now: () => clock.now,
  });
  return { reporter, out, err };
}

test("formatDuration", () => {
  expect(formatDuration(12_400)).toBe("12s");
  expect(formatDuration(250_000)).toBe("4m 10s");
  expect(formatDuration(3 * 3600_000 + 5 * 60_000)).toBe("3h 05m");
});

test("the ETA follows Userpilot's observed rate and the share of the file read", () => {
  const clock = { now: 0 };
  const { reporter, out } = progress("json", clock);
  const counters = { ...newCounters(1000), bytesRead: 250, rowsPlanned: 100, rowsSubmitted: 100 };
  reporter.update("submitted", counters);
  clock.now = 60_000;
  counters.rowsProcessed = 50; // 50 rows a minute; about 400 rows in the whole file
  reporter.update("completed", counters);
  const last = JSON.parse(out.at(-1) ?? "{}");
  expect(last).toMatchObject({ type: "progress", event: "completed", ratePerMinute: 50, etaSeconds: 420 });
});

test("a TTY gets one redrawn line; messages and the summary clear it first", () => {
  const clock = { now: 0 };
  const { reporter, err } = progress("tty", clock);
  const counters = newCounters(undefined);
  counters.rowsRead = 5;
  reporter.update("read", counters);
  reporter.update("read", counters); // throttled
  expect(err).toEqual(["\r\x1b[2Kusers | read 5 | rejected 0 | submitted 0 | processed 0"]);
  reporter.rejected([{ at: 3, path: "metadata.x", message: "bad" }]);
  expect(err.slice(1)).toEqual(["\r\x1b[2K", "rejected line 3: metadata.x: bad\n"]);
});

test("human output shows the first 20 rejected rows; JSON shows every one", () => {
  const clock = { now: 0 };
  const issues = Array.from({ length: 25 }, (_, i) => ({ at: i + 1, path: "", message: "bad" }));
  const human = progress("plain", clock);
  human.reporter.rejected(issues);
  expect(human.err).toHaveLength(21);
  expect(human.err.at(-1)).toContain("more rows rejected");
  const json = progress("json", clock);
  json.reporter.rejected(issues);
  expect(json.out).toHaveLength(25);
  expect(JSON.parse(json.out[0] ?? "")).toEqual({ type: "rejected", line: 1, path: "", message: "bad" });
});
