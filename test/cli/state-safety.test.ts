import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { API_KEY, FAST, profiles, runCli, sandboxForFile, startSandbox, summaryOf } from "./support.ts";

/** Review of issue 15 (the CLI's --state). */
const { sandbox, tmp, env, stats } = sandboxForFile();

function writeCsv(name: string, n: number): string {
  const file = join(tmp.path, name);
  const rows = Array.from({ length: n }, (_, i) => `u${i},pro,${i}`);
  writeFileSync(file, ["user_id,plan,seats", ...rows].join("\n") + "\n");
  return file;
}

describe("--state never leaves out a row the destination may lack", () => {
  test("a row Userpilot set aside before a stop is not recorded as delivered by the --resume run: the next run sends it", async () => {
    const file = writeCsv("resume.csv", 12);
    const state = join(tmp.path, "resume.state");
    const resume = join(tmp.path, "resume.resume");
    await sandbox.post("/__sandbox/faults", { failIds: ["u1"] });
    // Run 1: small jobs; u1 is cornered and set aside; then the run is stopped (SIGTERM).
    let killed = false;
    const first = await runCli(
      ["users", file, "--state", state, "--resume", resume, "--max-rows", "2", "--json", ...FAST],
      {
        env: env(),
        onLine: (line, child) => {
          if (!killed && line.includes('"type":"rejected"')) {
            killed = true;
            child.kill("SIGTERM");
          }
        },
      },
    );
    expect(killed).toBe(true);
    expect(first.code).not.toBe(0);
    expect((await profiles(sandbox)).map((p) => p.user_id)).not.toContain("u1");
    await sandbox.post("/__sandbox/faults", {});
    // Run 2 resumes: rows before the checkpoint (u1 among them) are not sent again.
    const second = await runCli([
      "users",
      file,
      "--state",
      state,
      "--resume",
      resume,
      "--max-rows",
      "2",
      "--json",
      ...FAST,
    ], {
      env: env(),
    });
    expect(second.code).toBe(0);
    // Run 3, Userpilot fixed: u1 was never delivered, so it must go now.
    const third = await runCli(["users", file, "--state", state, "--json", ...FAST], { env: env() });
    expect(summaryOf(third)).toMatchObject({ status: "completed" });
    expect((await profiles(sandbox)).map((p) => p.user_id)).toContain("u1");
  });

  test("a state written against one Userpilot environment is not applied to another: every row goes there", async () => {
    const file = writeCsv("env.csv", 3);
    const state = join(tmp.path, "env.state");
    expect((await runCli(["users", file, "--state", state, "--json", ...FAST], { env: env() })).code).toBe(0);
    const other = await startSandbox();
    try {
      const run = await runCli(["users", file, "--state", state, "--json", ...FAST], {
        env: { USERPILOT_API_KEY: API_KEY, USERPILOT_BASE_URL: other.baseUrl },
      });
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(
        "every row is sent (the destination changed: another base URL or API key)",
      );
      // The other environment has none of these users: every row must go there.
      expect((await other.get<{ rows: { received: number } }>("/__sandbox/stats")).rows.received).toBe(3);
    } finally {
      await other.close();
    }
    void stats;
  });

  test("a value changed in Userpilot is healed once the last full send is older than --resend-after-hours (168)", async () => {
    const file = writeCsv("drift.csv", 2);
    const state = join(tmp.path, "drift.state");
    expect((await runCli(["users", file, "--state", state, "--json", ...FAST], { env: env() })).code).toBe(0);
    // Someone changes u0's plan in Userpilot itself.
    const drift = await fetch(`${sandbox.baseUrl}/v1/users/bulk_identify`, {
      method: "POST",
      headers: { Authorization: `Token ${API_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ users: [{ user_id: "u0", metadata: { plan: "free" } }] }),
    });
    expect(drift.status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Eight days pass. The state's clock is the last full send in its header: bytes 40-47, ms
    // since the epoch as a little-endian float64 (see src/cli/state-header.ts).
    const bytes = readFileSync(state);
    new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setFloat64(
      40,
      Date.now() - 8 * 24 * 3_600_000,
      true,
    );
    writeFileSync(state, bytes);
    const run = await runCli(["users", file, "--state", state, "--json", ...FAST], { env: env() });
    expect(summaryOf(run)).toMatchObject({ status: "completed" });
    expect(run.stdout).toContain(
      "every row is sent (the last full send was 8.0 days ago, over --resend-after-hours 168)",
    );
    // Older than RESEND_AFTER_HOURS (168): the unchanged rows must be sent again, healing u0.
    expect((await profiles(sandbox)).find((p) => p.user_id === "u0")?.metadata).toEqual({
      plan: "pro",
      seats: "0",
    });
  });
});
