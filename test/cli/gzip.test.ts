import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { FAST, profiles, ROOT, runCli, type Runtime, sandboxForFile, summaryOf } from "./support.ts";

// A warehouse unload is usually gzipped (users.csv.gz, users.ndjson.gz): the CLI reads it as it
// streams, with DecompressionStream on Node, Deno and Bun, and --resume and --state work on it as
// on any file (piping through gunzip would lose both: standard input cannot be resumed). The
// interrupted --resume run of a .gz file: test/cli/resume.test.ts.

const { sandbox, tmp, env } = sandboxForFile();

/** 30 users as a gzipped NDJSON export; the first `changed` of them on the enterprise plan. */
function gzipUsers(name: string, changed = 0): { file: string; rows: unknown[] } {
  const rows = Array.from({ length: 30 }, (_, i) => ({
    user_id: `z${String(i).padStart(3, "0")}`,
    metadata: { n: i, plan: i < changed ? "enterprise" : "pro" },
  }));
  const file = join(tmp.path, name);
  writeFileSync(file, gzipSync(rows.map((row) => `${JSON.stringify(row)}\n`).join("")));
  return { file, rows };
}

describe.each(["node", "deno", "bun"] as Runtime[])("on %s", (runtime) => {
  test("a .csv.gz export is read by its format before .gz, typed and checked like the plain file", async () => {
    const args = [
      "users",
      "examples/users.csv.gz",
      "--types",
      "seats=number,trial=boolean",
      "--dry-run",
      "--json",
    ];
    const result = await runCli(args, { runtime, env: env() });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(summaryOf(result)).toMatchObject({ status: "completed", rowsRead: 20, rowsRejected: 0 });
  });

  test("a file that is not gzip, or cut short, stops the run (exit 2) naming the file", async () => {
    const whole = readFileSync(join(ROOT, "examples/users.csv.gz"));
    const cut = join(tmp.path, `${runtime}-cut.csv.gz`);
    writeFileSync(cut, whole.subarray(0, whole.length - 40));
    const plain = join(tmp.path, `${runtime}-plain.ndjson.gz`);
    writeFileSync(plain, '{"user_id":"u1"}\n');
    for (const file of [cut, plain]) {
      const result = await runCli(["users", file, ...FAST], { runtime, env: env() });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`userpilot-bulk: cannot read ${file}: not valid gzip data`);
    }
  });
});

test("--state on a .gz: the next night's export sends only the rows that changed", async () => {
  const state = join(tmp.path, "nightly.state");
  const { file } = gzipUsers("night-1.ndjson.gz");
  const first = await runCli(["users", file, "--state", state, "--json", ...FAST], { env: env() });
  expect(first.code).toBe(0);
  // The next export: the same rows, three of them changed.
  const { file: next, rows } = gzipUsers("night-2.ndjson.gz", 3);
  const second = await runCli(["users", next, "--state", state, "--json", ...FAST], { env: env() });
  expect(second.code).toBe(0);
  expect(summaryOf(second)).toMatchObject({ status: "completed", rowsUnchanged: 27, rowsSubmitted: 3 });
  expect(await profiles(sandbox)).toEqual(rows);
});

test("the README's CLI example runs as written from a clone, on the fixture it names", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## 3. From the command line"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  const commands = block.split("\n").filter((line) => line.startsWith("npm run cli -- "));
  expect(commands).toHaveLength(2);
  // Every file it reads is in the clone; the gzipped fixture is the plain one, compressed.
  for (const command of commands) expect(command).toContain("examples/users.csv.gz");
  expect(gunzipSync(readFileSync(join(ROOT, "examples/users.csv.gz"))).toString()).toBe(
    readFileSync(join(ROOT, "examples/users.csv"), "utf8"),
  );
  const dryRun = commands.find((command) => command.includes("--dry-run"))!.replace(/\s+#.*$/, "");
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("USERPILOT_")),
  );
  const result = spawnSync("sh", ["-c", dryRun], {
    cwd: ROOT,
    env: { ...clean, NO_COLOR: "1" },
    encoding: "utf8",
  });
  expect(result.status).toBe(0);
  expect(result.stderr).toContain("20 user rows read, 0 rejected");
});
