import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, expect, test } from "vitest";
import { expectedProfiles, syntheticUpdates } from "../support/in-process.ts";
import { testSeed } from "../support/seed.ts";
import { API_KEY, FAST, profiles, runCli, sandboxForFile, type Stats } from "./support.ts";

// Faults injected by the sandbox at 10-20%: 429 with Retry-After, 5xx, dropped connections and
// failed jobs. The run must still end with every profile equal to the in-order merge of the file.
const { sandbox, tmp } = sandboxForFile({ seed: testSeed("cli/faults.test.ts", 21) });
const updates = syntheticUpdates(300, 60, 3);
const file = join(tmp.path, "updates.ndjson");
writeFileSync(file, updates.map((row) => `${JSON.stringify(row)}\n`).join(""));

beforeEach(async () => {
  await sandbox.post("/__sandbox/faults", {
    rate429: 0.1,
    retryAfterSeconds: 0,
    rate5xx: 0.1,
    dropRate: 0.1,
    jobFailureRate: 0.2,
  });
});

const patient = ["--max-rows", "10", "--max-attempts", "25", "--job-attempts", "25", "--timeout", "5000"];

test.each([
  ["JSON bodies", []],
  ["uploads", ["--upload"]],
])("%s: every fault is survived and the profiles are exactly the merge of the file", async (_name, extra) => {
  const result = await runCli(["users", file, ...patient, ...FAST, ...extra], {
    env: { USERPILOT_API_KEY: API_KEY, USERPILOT_BASE_URL: sandbox.baseUrl },
  });
  expect(result.stderr).toContain("retrying");
  expect(result.code).toBe(0);
  expect(await profiles(sandbox)).toEqual(expectedProfiles(updates));
  const stats = await sandbox.get<Stats>("/__sandbox/stats");
  // About 30 jobs and a few hundred requests: every kind of fault happened.
  for (const kind of ["rateLimited", "serverErrors", "dropped", "failedJobs"]) {
    expect(stats.faults[kind], kind).toBeGreaterThan(0);
  }
  expect(result.stdout + result.stderr).not.toContain(API_KEY);
});
