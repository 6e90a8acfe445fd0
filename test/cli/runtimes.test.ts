import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  API_KEY,
  FAST,
  FIXTURES,
  profiles,
  runCli,
  type Runtime,
  sandboxForFile,
  summaryOf,
} from "./support.ts";

// A thin smoke of the same source on Deno (`deno run` with narrow permissions) and Bun.
const { sandbox, tmp, env } = sandboxForFile();

describe.each(["deno", "bun"] as Runtime[])("%s", (runtime) => {
  test("a mixed NDJSON file: the merged profiles arrive and the report lists the bad lines", async () => {
    const report = join(tmp.path, `${runtime}-report.ndjson`);
    const result = await runCli(
      ["users", join(FIXTURES, "mixed-users.ndjson"), "--max-rows", "3", "--report", report, ...FAST],
      { runtime, env: env() },
    );
    expect(result.code).toBe(1);
    expect((await profiles(sandbox)).map((profile) => profile.user_id)).toEqual(["u1", "u2", "u4"]);
    expect((await profiles(sandbox))[0]).toEqual({
      user_id: "u1",
      company_id: "acme",
      metadata: { plan: "pro" },
    });
    const lines = readFileSync(report, "utf8").trim().split("\n").map((line) => JSON.parse(line).line);
    expect(lines).toEqual([4, 6, 7, 8, 10, 13]);
    expect(result.stdout + result.stderr).not.toContain(API_KEY);
  });

  test("CSV on standard input with typed columns, --json", async () => {
    // Sent as an NDJSON upload: each runtime builds its own multipart body (Bun's boundary has capitals).
    const upload = ["--upload"];
    const result = await runCli([
      "users",
      "-",
      "--format",
      "csv",
      "--types",
      "seats=number",
      "--json",
      ...upload,
      ...FAST,
    ], {
      runtime,
      env: env(),
      stdin: "user_id,seats,plan\nr1,3,pro\nr2,x,free\n",
    });
    expect(result.code).toBe(1);
    expect(summaryOf(result)).toMatchObject({
      status: "rejected",
      rowsRead: 2,
      rowsRejected: 1,
      rowsProcessed: 1,
    });
    expect(await profiles(sandbox)).toEqual([{ user_id: "r1", metadata: { seats: 3, plan: "pro" } }]);
  });

  test("--state: the state file written by Node is read here, and the unchanged rows stay home", async () => {
    const state = join(tmp.path, `${runtime}.state`);
    const file = join(tmp.path, `${runtime}-state.ndjson`);
    writeFileSync(
      file,
      ["a", "b", "c"].map((id) => `{"user_id":"${id}","metadata":{"plan":"pro"}}\n`).join(""),
    );
    expect((await runCli(["users", file, "--state", state, ...FAST], { env: env() })).code).toBe(0);
    const again = await runCli(["users", file, "--state", state, "--json", ...FAST], { runtime, env: env() });
    expect(summaryOf(again)).toMatchObject({ status: "completed", rowsUnchanged: 3, rowsSubmitted: 0 });
  });
});
