import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { expect, test } from "vitest";
import { FAST, profiles, runCli, sandboxForFile, summaryOf } from "./support.ts";

// A slow sandbox (20 rows a second), so a 10-row job is still running when the test acts.
const { sandbox, tmp, env, stats } = sandboxForFile({ rowsPerMinute: 1200 });

function writeUsers(name: string, count: number): { file: string; expected: unknown[] } {
  const rows = Array.from({ length: count }, (_, i) => ({
    user_id: `r${String(i).padStart(3, "0")}`,
    metadata: { n: i },
  }));
  const file = join(tmp.path, name);
  const text = rows.map((row) => `${JSON.stringify(row)}\n`).join("");
  writeFileSync(file, name.endsWith(".gz") ? gzipSync(text) : text);
  return { file, expected: rows };
}

// A gzipped export resumes like a plain file (piping it through gunzip into `-` could not).
test.each(["ndjson", "ndjson.gz"])(
  "Ctrl-C during a job saves state; the rerun follows that job and sends nothing twice (.%s)",
  async (extension) => {
    const { file, expected } = writeUsers(`interrupt.${extension}`, 30);
    const state = join(tmp.path, `interrupt-${extension}.state.json`);
    const args = ["users", file, "--max-rows", "10", "--resume", state, "--json", ...FAST];
    let interrupted = false;
    const first = await runCli(args, {
      env: env(),
      onLine: (line, child) => {
        const event = JSON.parse(line) as Record<string, unknown>;
        // The second job was accepted (and recorded); stop while it runs.
        if (!interrupted && event["event"] === "submitted" && event["rowsSubmitted"] === 20) {
          interrupted = true;
          child.kill("SIGINT");
        }
      },
    });
    expect(first.code).toBe(130); // 128 + SIGINT, the shells' convention
    expect(summaryOf(first)).toMatchObject({ status: "interrupted", error: "interrupted" });
    const saved = JSON.parse(readFileSync(state, "utf8"));
    // Rows 0-9 are delivered; the job of rows 10-19 runs, and settles everything before row 20.
    expect(saved).toMatchObject({ version: 2, checkpoint: 10, inFlight: { through: 20, rows: 10 } });

    const second = await runCli(args, { env: env() });
    expect(second.code).toBe(0);
    expect(summaryOf(second)).toMatchObject({ status: "completed", rowsSkipped: 10, rowsProcessed: 20 });
    const after = await stats();
    expect(after.rows.received).toBe(30);
    expect(after.jobs.created).toBe(3);
    expect(await profiles(sandbox)).toEqual(expected);
  },
);

test("a job that fails stops the run; the rerun sends only the rows after the checkpoint", async () => {
  const { file, expected } = writeUsers("fail.ndjson", 40);
  const state = join(tmp.path, "fail.state.json");
  const args = [
    "users",
    file,
    "--max-rows",
    "10",
    "--resume",
    state,
    "--job-attempts",
    "1",
    "--json",
    ...FAST,
  ];
  let injected: Promise<void> | undefined;
  const first = await runCli(args, {
    env: env(),
    onLine: (line) => {
      if (injected === undefined && (JSON.parse(line) as Record<string, unknown>)["event"] === "completed") {
        injected = sandbox.post("/__sandbox/faults", { jobFailureRate: 1 });
      }
    },
  });
  await injected;
  expect(first.code).toBe(2);
  expect(first.stderr).toMatch(/userpilot-bulk: Userpilot job .* failed, on every attempt/);
  const done = JSON.parse(readFileSync(state, "utf8")).checkpoint as number;
  expect(done).toBeGreaterThanOrEqual(10);
  expect(done).toBeLessThan(40);

  await sandbox.post("/__sandbox/faults", {});
  const before = (await stats()).rows.received;
  const second = await runCli(args, { env: env() });
  expect(second.code).toBe(0);
  expect((await stats()).rows.received - before).toBe(40 - done);
  expect(await profiles(sandbox)).toEqual(expected);
});

test("a finished run resumes to nothing; a changed input or changed options refuse to resume", async () => {
  const { file } = writeUsers("done.ndjson", 10);
  const state = join(tmp.path, "done.state.json");
  const args = ["users", file, "--resume", state, ...FAST];
  expect((await runCli(args, { env: env() })).code).toBe(0);
  expect((await stats()).rows.received).toBe(10);

  const again = await runCli(args, { env: env() });
  expect(again.code).toBe(0);
  expect(again.stderr).toContain("10 already sent by an earlier run");
  expect((await stats()).rows.received).toBe(10);

  const otherOptions = await runCli([...args, "--max-rows", "5"], { env: env() });
  expect(otherOptions.code).toBe(2);
  expect(otherOptions.stderr).toContain("(--max-rows changed); refusing to resume");

  appendFileSync(file, `${JSON.stringify({ user_id: "late" })}\n`);
  const otherInput = await runCli(args, { env: env() });
  expect(otherInput.code).toBe(2);
  expect(otherInput.stderr).toMatch(
    /\(the input's size, the input's modification time changed\); refusing to resume/,
  );
  expect((await stats()).rows.received).toBe(10);

  writeFileSync(state, "not json");
  const corrupt = await runCli(args, { env: env() });
  expect(corrupt.code).toBe(2);
  expect(corrupt.stderr).toContain("is not a resume state file");
});
