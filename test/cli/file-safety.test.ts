import {
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { writeAtomically } from "../../src/cli/atomic-write.ts";
import { RejectReport } from "../../src/cli/report.ts";
import { LOG_BUFFER_ENTRIES, StateLog } from "../../src/cli/state-log.ts";

// The files a run writes (state, resume, report, the state's log) in a directory others can write
// to: a link planted at a name the CLI would use must not make it write anywhere else, and what it
// writes is readable by its owner only.

let dir: string;
let victim: string;
const VICTIM_TEXT = "someone else's file\n";

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "userpilot-files-"));
  victim = join(dir, "victim.txt");
  writeFileSync(victim, VICTIM_TEXT);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const mode = (path: string) => statSync(path).mode & 0o777;
const POSIX = process.platform !== "win32";

describe.skipIf(!POSIX)("files the CLI writes", () => {
  test("an atomic write ignores a link planted at the old predictable temporary name, and leaves no temporary file", () => {
    const state = join(dir, "run.resume.json");
    symlinkSync(victim, `${state}.${process.pid}.tmp`);
    writeAtomically(state, '{"jobs":[]}\n');
    expect(readFileSync(victim, "utf8")).toBe(VICTIM_TEXT);
    expect(readFileSync(state, "utf8")).toBe('{"jobs":[]}\n');
    expect(lstatSync(state).isSymbolicLink()).toBe(false);
    expect(readdirSync(dir).filter((name) => name.endsWith(".tmp") && !name.includes(String(process.pid))))
      .toEqual([]);
  });

  test("an atomic write replaces a link at the path itself rather than writing through it", () => {
    const state = join(dir, "users.state");
    symlinkSync(victim, state);
    writeAtomically(state, "new state");
    expect(readFileSync(victim, "utf8")).toBe(VICTIM_TEXT);
    expect(readFileSync(state, "utf8")).toBe("new state");
  });

  test("state, resume and report files are readable by their owner only (0600), whatever the umask", () => {
    const previous = process.umask(0o022);
    try {
      const state = join(dir, "users.state");
      writeAtomically(state, "state");
      expect(mode(state)).toBe(0o600);
      const report = join(dir, "rejected.ndjson");
      RejectReport.open(report, "line").close();
      expect(mode(report)).toBe(0o600);
    } finally {
      process.umask(previous);
    }
  });

  test("the state's log ignores a link planted at the old predictable name, and is the owner's only", () => {
    const state = join(dir, "users.state");
    symlinkSync(victim, `${state}.${process.pid}.log`);
    const log = new StateLog(state);
    for (let i = 0; i <= LOG_BUFFER_ENTRIES; i++) log.add(i, i, i, i); // one more than a buffer: written out
    const written = readdirSync(dir).filter((name) =>
      name.endsWith(".log") && !name.includes(String(process.pid))
    );
    expect(written).toHaveLength(1);
    expect(mode(join(dir, written[0]!))).toBe(0o600);
    expect(log.read()).toHaveLength((LOG_BUFFER_ENTRIES + 1) * 4);
    log.remove();
    expect(readFileSync(victim, "utf8")).toBe(VICTIM_TEXT);
    expect(readdirSync(dir).filter((name) => name.endsWith(".log") && !name.includes(String(process.pid))))
      .toEqual([]);
  });
});
