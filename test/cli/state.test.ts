import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseCliArgs } from "../../src/cli/args.ts";
import { StateError } from "../../src/cli/errors.ts";
import { DeliveredState } from "../../src/cli/state-file.ts";
import { FAST, profiles, runCli, sandboxForFile, summaryOf } from "./support.ts";

const { sandbox, tmp, env, stats } = sandboxForFile();

function writeCsv(name: string, rows: (string | number)[][]): string {
  const file = join(tmp.path, name);
  writeFileSync(file, ["user_id,plan,seats", ...rows.map((row) => row.join(","))].join("\n") + "\n");
  return file;
}

const users = (n: number, plan = (i: number): string => (i % 2 === 0 ? "pro" : "free")) =>
  Array.from({ length: n }, (_, i) => [`u${i}`, plan(i), i]);

async function sync(args: string[]) {
  const before = (await stats()).rows.received;
  const result = await runCli([...args, "--json", ...FAST], { env: env() });
  return { ...result, summary: summaryOf(result), sent: (await stats()).rows.received - before };
}

describe("--state", () => {
  test("a second run sends only the rows that changed; --full and a changed --types send every row", async () => {
    const state = join(tmp.path, "users.state");
    const file = writeCsv("users.csv", users(10));
    const args = ["users", file, "--types", "seats=number", "--state", state];
    const first = await sync(args);
    expect(first.code).toBe(0);
    expect(first.sent).toBe(10);
    expect(existsSync(state)).toBe(true);

    const second = await sync(args);
    expect(second.code).toBe(0);
    expect(second.sent).toBe(0);
    expect(second.summary).toMatchObject({ status: "completed", rowsUnchanged: 10, propertiesUnchanged: 20 });

    // Two users change; then they change back (still a change from what the last run delivered).
    writeCsv(
      "users.csv",
      users(10, (i) => (i === 3 ? "enterprise" : i === 4 ? "free" : i % 2 ? "free" : "pro")),
    );
    const third = await sync(args);
    expect(third.sent).toBe(2);
    expect(third.summary).toMatchObject({ rowsUnchanged: 8, propertiesUnchanged: 16 });
    writeCsv("users.csv", users(10));
    expect((await sync(args)).sent).toBe(2);
    expect(await profiles(sandbox)).toContainEqual({ user_id: "u3", metadata: { plan: "free", seats: 3 } });

    expect((await sync([...args, "--full"])).sent).toBe(10);
    const retyped = await sync(["users", file, "--types", "seats=string", "--state", state]);
    expect(retyped.sent).toBe(10);
    expect(retyped.stdout + retyped.stderr).toContain(
      "every row is sent (the options that shape rows changed)",
    );
    expect((await sync(["users", file, "--types", "seats=string", "--state", state])).sent).toBe(0);
  });

  test("a run whose job failed records nothing; a rejected row is reported again, never left out", async () => {
    const state = join(tmp.path, "failed.state");
    const file = writeCsv("failed.csv", users(5));
    await sandbox.post("/__sandbox/faults", { jobFailureRate: 1 });
    const failed = await sync(["users", file, "--state", state, "--job-attempts", "1"]);
    await sandbox.post("/__sandbox/faults", {});
    expect(failed.code).toBe(2);
    expect(existsSync(state)).toBe(false);
    expect(readdirSync(tmp.path).filter((name) => name.endsWith(".log") || name.endsWith(".tmp"))).toEqual(
      [],
    );
    expect((await sync(["users", file, "--state", state])).sent).toBe(5);

    const mixed = join(tmp.path, "mixed.ndjson");
    writeFileSync(
      mixed,
      '{"user_id":"ok","metadata":{"a":1}}\n{"user_id":"bad","metadata":{"a":{"nested":1}}}\n',
    );
    const once = await sync(["users", mixed, "--state", state]);
    expect(once.code).toBe(1);
    const again = await sync(["users", mixed, "--state", state]);
    expect(again.code).toBe(1);
    expect(again.summary).toMatchObject({ rowsRejected: 1, rowsUnchanged: 1 });
  });

  test("--dry-run counts what would be left out and writes nothing; --resume checks the state file too", async () => {
    const state = join(tmp.path, "dry.state");
    const resume = join(tmp.path, "dry.resume");
    const file = writeCsv("dry.csv", users(4));
    await sandbox.post("/__sandbox/faults", { jobFailureRate: 1 });
    const stopped = await sync(["users", file, "--state", state, "--resume", resume, "--job-attempts", "1"]);
    await sandbox.post("/__sandbox/faults", {});
    expect(stopped.code).toBe(2);
    const resumed = await sync(["users", file, "--state", state, "--resume", resume]);
    expect(resumed.code).toBe(0);
    expect(resumed.sent).toBe(4);
    const written = readFileSync(state);

    const dry = await sync(["users", file, "--state", state, "--dry-run"]);
    expect(dry.summary).toMatchObject({ rowsUnchanged: 4, rowsPlanned: 0 });
    expect(readFileSync(state)).toEqual(written);
    // The state the resume file was made with has been written since: rows would shift.
    const refused = await sync(["users", file, "--state", state, "--resume", resume]);
    expect(refused.code).toBe(2);
    expect(refused.stdout + refused.stderr).toContain("--state (or that file, written since) changed");
  });

  test("a --resume rerun must send every row exactly when its first run did (the rows' numbers depend on it)", async () => {
    const state = join(tmp.path, "rerun.state");
    const resume = join(tmp.path, "rerun.resume");
    const file = writeCsv("rerun.csv", users(4));
    const args = ["users", file, "--state", state, "--resume", resume];
    expect((await sync(["users", file, "--state", state])).code).toBe(0);
    await sandbox.post("/__sandbox/faults", { jobFailureRate: 1 });
    const stopped = await sync([...args, "--full", "--job-attempts", "1"]);
    await sandbox.post("/__sandbox/faults", {});
    expect(stopped.code).toBe(2);
    const refused = await sync(args);
    expect(refused.code).toBe(2);
    expect(refused.sent).toBe(0);
    expect(refused.stdout + refused.stderr).toContain("--state (or that file, written since) changed");
    const resumed = await sync([...args, "--full"]);
    expect(resumed.code).toBe(0);
    expect(resumed.sent).toBe(4);
  });

  test("a state file that is foreign or damaged stops the run with a clear error, sending nothing", async () => {
    const file = writeCsv("guard.csv", users(3));
    const foreign = join(tmp.path, "foreign.state");
    writeFileSync(foreign, '{"version": 2, "checkpoint": 0}\n');
    const refused = await sync(["users", file, "--state", foreign]);
    expect(refused.code).toBe(2);
    expect(refused.sent).toBe(0);
    expect(refused.stderr).toContain(`--state ${foreign} is not a userpilot-bulk state file`);

    const state = join(tmp.path, "guard.state");
    expect((await sync(["users", file, "--state", state])).code).toBe(0);
    const bytes = readFileSync(state);
    writeFileSync(state, bytes.subarray(0, bytes.length - 5));
    const truncated = await sync(["users", file, "--state", state]);
    expect(truncated.code).toBe(2);
    expect(truncated.stderr).toContain("is damaged");
    bytes[bytes.length - 1]! ^= 0x40;
    writeFileSync(state, bytes);
    expect(() => DeliveredState.open(state, { shaping: "[]" })).toThrow(StateError);
    expect(() => DeliveredState.open(state, { shaping: "[]" })).toThrow(/checksum does not match/);
  });
});

describe("the state file", () => {
  test("200,000 ids survive a save and a load; an id seen twice with different rows, or not delivered, is left out", () => {
    const path = join(tmp.path, "big.state");
    const state = DeliveredState.open(path, { shaping: "users" });
    expect(state.fullReason).toBe("no state yet");
    for (let i = 1; i <= 200_000; i++) expect(state.see(i * 7919, i, i * 13, i + 1)).toBe("send");
    state.see(5 * 7919, 5, 1, 1); // a second, different row of id 5
    state.see(6 * 7919, 6, 78, 7); // the same row of id 6 again
    state.undelivered(9 * 7919, 9);
    expect(state.save()).toBe(true);
    expect(readFileSync(path).length).toBe(48 + 199_998 * 16);
    expect(readdirSync(tmp.path).filter((name) => name.startsWith("big.state.") && name.endsWith(".log")))
      .toEqual([]); // the run's log, removed once merged in

    const loaded = DeliveredState.open(path, { shaping: "users" });
    expect(loaded.size).toBe(199_998);
    expect(loaded.see(6 * 7919, 6, 78, 7)).toBe("unchanged");
    expect(loaded.see(7 * 7919, 7, 91, 9)).toBe("send"); // changed
    expect(loaded.see(7 * 7919, 7, 91, 8)).toBe("send"); // its old row again, after a change: goes too
    expect(loaded.see(5 * 7919, 5, 65, 6)).toBe("send");
    expect(loaded.see(9 * 7919, 9, 117, 10)).toBe("send");
    expect(loaded.see(1, 1, 1, 1)).toBe("send");
    loaded.discard();
    expect(DeliveredState.open(path, { shaping: "companies" }).fullReason).toBe(
      "the options that shape rows changed",
    );
    expect(DeliveredState.open(path, { shaping: "users", full: true }).fullReason).toBe("--full");
  });

  test("--full needs --state; --state is for direct runs and needs a file of its own", () => {
    expect(() => parseCliArgs(["users", "a.csv", "--full"], {})).toThrow("--full applies to --state only");
    expect(() => parseCliArgs(["users", "a.csv", "--state", "s", "--ingest-url", "https://x.example"], {}))
      .toThrow("--state does not apply to --ingest-url");
    expect(() => parseCliArgs(["users", "a.csv", "--state", "a.csv"], {})).toThrow("must be different files");
  });
});
