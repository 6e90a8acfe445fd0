import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { ResumeError } from "../../src/cli/errors.ts";
import { type Fingerprint, fingerprintOf, ResumeFile } from "../../src/cli/resume.ts";
import { temporaryDirectory } from "./support.ts";

const tmp = temporaryDirectory();
afterAll(() => tmp.remove());

const fingerprint = (changes: Partial<Fingerprint> = {}): Fingerprint => ({
  ...fingerprintOf({ path: "/data/users.csv", size: 1234, mtimeMs: 1_700_000_000_123.75 }, {
    kind: "users",
    format: "csv",
    maxRows: 10_000,
    maxBytes: 5_242_880,
    columnTypes: new Map([["seats", "number"], ["active", "boolean"]]),
    emptyAsNull: false,
    state: undefined,
  }),
  ...changes,
});

test("a new state is written at once; progress survives a reopen; no temporary file is left", () => {
  const path = join(tmp.path, "state.json");
  const state = ResumeFile.open(path, fingerprint());
  expect(existsSync(path)).toBe(true);
  state.submitted({ jobId: "job-1", through: 10, rows: 10 });
  expect(ResumeFile.open(path, fingerprint()).inFlight).toEqual({ jobId: "job-1", through: 10, rows: 10 });
  state.reached(10, true);
  state.submitted({ jobId: "job-2", through: 17, rows: 7 });
  state.reached(12, false); // a row set aside moved the checkpoint; the job still runs
  expect(ResumeFile.open(path, fingerprint()).inFlight?.jobId).toBe("job-2");
  state.reached(17, true);
  const reopened = ResumeFile.open(path, fingerprint());
  expect([reopened.checkpoint, reopened.inFlight]).toEqual([17, undefined]);
  expect(reopened.runId).toBe(state.runId); // the gateway's Idempotency-Keys survive a rerun
  expect(readdirSync(tmp.path)).toEqual(["state.json"]);
  expect(JSON.parse(readFileSync(path, "utf8")).fingerprint.mtimeMs).toBe(1_700_000_000_123);
});

test("column types in another order are the same run", () => {
  const path = join(tmp.path, "order.json");
  ResumeFile.open(path, fingerprint());
  const reordered = fingerprint({ columnTypes: { seats: "number", active: "boolean" } });
  expect(() =>
    ResumeFile.open(
      path,
      fingerprintOf(
        { path: reordered.path, size: reordered.size, mtimeMs: reordered.mtimeMs },
        {
          ...reordered,
          state: undefined,
          columnTypes: new Map([["seats", "number"], ["active", "boolean"]]),
        },
      ),
    )
  ).not.toThrow();
});

test("a state for another input or other options is refused, naming what changed", () => {
  const path = join(tmp.path, "refuse.json");
  ResumeFile.open(path, fingerprint());
  expect(() => ResumeFile.open(path, fingerprint({ size: 99, maxRows: 5 }))).toThrow(
    /\(the input's size, --max-rows changed\); refusing to resume/,
  );
  expect(() => ResumeFile.open(path, fingerprint({ columnTypes: {} }))).toThrow(ResumeError);
  expect(() => ResumeFile.open(path, fingerprint({ via: "https://ingest.example.com" }))).toThrow(
    /\(--ingest-url changed\)/,
  );
  expect(() => ResumeFile.open(join(tmp.path, "no-such-dir", "s.json"), fingerprint())).toThrow(
    /cannot write --resume/,
  );
});

test("a rerun reads when the first run began; a --state run that sends every row is another run", () => {
  const path = join(tmp.path, "started.json");
  expect(ResumeFile.startedAt(path)).toBeUndefined(); // no file yet
  ResumeFile.open(path, fingerprint(), 1_700_000_000_000);
  ResumeFile.open(path, fingerprint(), 1_800_000_000_000); // a rerun keeps the first time
  expect(ResumeFile.startedAt(path)).toBe(1_700_000_000_000);

  // The state decides which rows go, so the rows' numbers: whether it sends every row is part of it.
  const statePath = join(tmp.path, "users.state");
  writeFileSync(statePath, "state");
  const file = { path: "/data/users.csv", size: 1234, mtimeMs: 1 };
  const options = {
    kind: "users",
    format: "csv",
    maxRows: 10_000,
    maxBytes: 5_242_880,
    columnTypes: new Map(),
    emptyAsNull: false,
    state: statePath,
  } as const;
  const resume = join(tmp.path, "every-row.json");
  ResumeFile.open(resume, fingerprintOf(file, { ...options, everyRow: false }));
  expect(() => ResumeFile.open(resume, fingerprintOf(file, { ...options, everyRow: true }))).toThrow(
    /\(--state \(or that file, written since\) changed\)/,
  );
});
