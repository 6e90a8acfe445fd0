import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { FAST, runCli, sandboxForFile } from "./support.ts";

// Userpilot's error messages may quote what they refused (the sandbox's do). What of an error is
// shown is decided in one place (the core's `describeFailure`): the CLI's every output names the
// request, the status and Userpilot's error code, and never the value.
const { sandbox, tmp, env } = sandboxForFile();
const SECRET = "s3cret-value-only-the-row-holds";

test("a row Userpilot refuses with a message quoting its value: no output of the CLI shows the value", async () => {
  await sandbox.post("/__sandbox/faults", { refuseIds: ["poison"] });
  const file = join(tmp.path, "rows.ndjson");
  const rows = [
    { user_id: "ok1", metadata: { plan: "pro" } },
    { user_id: "poison", metadata: { note: SECRET } },
    { user_id: "ok2", metadata: { plan: "free" } },
  ];
  writeFileSync(file, rows.map((row) => `${JSON.stringify(row)}\n`).join(""));
  const report = join(tmp.path, "report.ndjson");
  for (const json of [[], ["--json"]]) {
    const result = await runCli(["users", file, "--report", report, ...json, ...FAST], { env: env() });
    expect(result.code, result.stderr).not.toBe(0);
    const shown = `${result.stdout}${result.stderr}${readFileSync(report, "utf8")}`;
    expect(shown).toContain("POST /v1/users/bulk_identify answered 400 (invalid_row)");
    expect(shown).not.toContain(SECRET);
  }
});
