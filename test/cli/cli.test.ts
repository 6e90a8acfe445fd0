import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  API_KEY,
  FAST,
  FIXTURES,
  profiles,
  runCli,
  type RunResult,
  sandboxForFile,
  summaryOf,
} from "./support.ts";

// The real CLI, as a child process on Node (through tsx), against the sandbox on 127.0.0.1.
const { sandbox, tmp, env, stats } = sandboxForFile();
const readReport = (path: string): unknown[] =>
  readFileSync(path, "utf8").trim().split("\n").filter(Boolean).map((line) => JSON.parse(line));

/** Nothing a run prints or writes may hold the key or a rejected row's value. */
function expectNoLeaks(result: RunResult, ...files: string[]): void {
  for (const text of [result.stdout, result.stderr, ...files.map((file) => readFileSync(file, "utf8"))]) {
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain("LEAK-CANARY");
  }
}

const MIXED_REPORT = [
  { line: 4, path: "", message: "line is not valid JSON" },
  { line: 6, path: "user_id", message: "user_id must not be empty" },
  { line: 7, path: "metadata.nested", message: expect.stringContaining("received an object") },
  { line: 8, path: "email", message: "is not a known field; put profile properties under metadata" },
  { line: 10, path: "", message: "row must be an object, received an array" },
  { line: 13, path: "", message: "line is not valid JSON" },
];

const MIXED_PROFILES = [
  { user_id: "u1", company_id: "acme", metadata: { plan: "pro" } },
  { user_id: "u2", company_id: "initech", metadata: { plan: "enterprise" } },
  {
    user_id: "u4",
    company_id: "globex",
    metadata: { created_at: "2024-01-02T03:04:05.000Z", score: 9.5, vip: true },
  },
];

test("--help prints the usage and exits 0", async () => {
  const result = await runCli(["--help"]);
  expect(result.code).toBe(0);
  expect(result.stdout).toContain("Usage: userpilot-bulk <users|companies> <file|-> [options]");
  expect(result.stdout).toContain("--resume FILE");
});

test("a mixed NDJSON file: good rows merged and sent, bad rows reported by line, exit 1", async () => {
  const report = join(tmp.path, "mixed-report.ndjson");
  // Windows of 3 rows: u1's null in line 3 merges inside its window; lines 11 and 12 update u2
  // and u1 from later windows, which must win because jobs run in order.
  const result = await runCli(
    ["users", join(FIXTURES, "mixed-users.ndjson"), "--max-rows", "3", "--report", report, ...FAST],
    { env: env() },
  );
  expect(result.code).toBe(1);
  expect(await profiles(sandbox)).toEqual(MIXED_PROFILES);
  expect(readReport(report)).toEqual(MIXED_REPORT);
  expect((await stats()).rows.received).toBe(5);
  expect(result.stderr).toContain("rejected line 7: metadata.nested:");
  expect(result.stderr).toMatch(
    /Done in .*: 12 user rows read, 6 rejected, 1 merged by id; 5 rows processed by Userpilot in 3 completed job/,
  );
  expectNoLeaks(result, report);
});

test("--json prints progress lines and a summary on stdout", async () => {
  const result = await runCli(["users", join(FIXTURES, "mixed-users.ndjson"), "--json", ...FAST], {
    env: env(),
  });
  expect(result.code).toBe(1);
  expect(summaryOf(result)).toMatchObject({
    status: "rejected",
    exitCode: 1,
    dryRun: false,
    rowsRead: 12,
    rowsRejected: 6,
    rowsMerged: 3,
    rowsSubmitted: 3,
    rowsProcessed: 3,
    jobs: 1,
  });
  const types = new Set(result.events.map((event) => event["type"]));
  expect(types).toEqual(new Set(["rejected", "progress", "summary"]));
  expect(result.events.filter((event) => event["type"] === "rejected")).toHaveLength(MIXED_REPORT.length);
  expect(result.events.some((event) => event["event"] === "submitted")).toBe(true);
  expect(await profiles(sandbox)).toEqual(MIXED_PROFILES);
  expectNoLeaks(result);
});

test("a row Userpilot will not take even alone is set aside and reported by line; every other row goes", async () => {
  await sandbox.post("/__sandbox/faults", { failIds: ["p003"] });
  const rows = Array.from({ length: 150 }, (_, i) => ({ user_id: `p${String(i).padStart(3, "0")}` }));
  const file = join(tmp.path, "poison.ndjson");
  writeFileSync(file, `\n${rows.map((row) => JSON.stringify(row)).join("\n")}\n`); // line 1 is blank
  const report = join(tmp.path, "poison-report.ndjson");
  // One streaming call over the whole file: the poison row of the first window is cornered while
  // the later windows complete, instead of ending the run when its window's call gives up.
  const result = await runCli(["users", file, "--max-rows", "10", "--report", report, "--json", ...FAST], {
    env: env(),
  });
  await sandbox.post("/__sandbox/faults", {});
  expect(result.code).toBe(1);
  expect(readReport(report)).toEqual([
    { line: 5, path: "", message: expect.stringMatching(/^Userpilot failed alone: job .* failed$/) },
  ]);
  expect(summaryOf(result)).toMatchObject({
    status: "rejected",
    rowsRead: 150,
    rowsRejected: 1,
    rowsProcessed: 149,
  });
  expect((await profiles(sandbox)).length).toBe(149);
});

describe("CSV", () => {
  const csv = join(FIXTURES, "users.csv");
  const types = ["--types", "seats=number,trial=boolean", "--types", "signed_up=date"];
  const seedC2 = () =>
    runCli(["users", "-", ...FAST], {
      env: env(),
      stdin: `${JSON.stringify({ user_id: "c2", metadata: { seats: 7, note: "old" } })}\n`,
    });

  test("typed columns, quoted fields and line numbers; empty cells are left out", async () => {
    expect((await seedC2()).code).toBe(0);
    const report = join(tmp.path, "csv-report.ndjson");
    const result = await runCli(["users", csv, ...types, "--report", report, ...FAST], { env: env() });
    expect(result.code).toBe(1);
    expect(await profiles(sandbox)).toEqual([
      {
        user_id: "c1",
        company_id: "acme",
        metadata: {
          plan: "pro",
          seats: 5,
          trial: true,
          signed_up: "2024-05-01T00:00:00.000Z",
          note: 'Likes "quotes", and commas',
        },
      },
      // Empty cells were left out, so the earlier seats and note stay.
      {
        user_id: "c2",
        metadata: {
          seats: 7,
          note: "old",
          plan: "free",
          trial: false,
          signed_up: "2024-05-01T11:45:00.000Z",
        },
      },
    ]);
    expect(readReport(report)).toEqual([
      { line: 4, path: "metadata.seats", message: "is not a number (--types number)" },
      { line: 5, path: "metadata.trial", message: expect.stringContaining("is not a boolean") },
      { line: 7, path: "metadata.signed_up", message: expect.stringContaining("is not an ISO 8601 date") },
      { line: 8, path: "", message: "has 5 fields; the header has 7" },
      { line: 9, path: "user_id", message: "is required" },
    ]);
    expectNoLeaks(result, report);
  });

  test("--empty-as-null sends empty cells as null, which removes the property", async () => {
    expect((await seedC2()).code).toBe(0);
    const result = await runCli(["users", csv, ...types, "--empty-as-null", ...FAST], { env: env() });
    expect(result.code).toBe(1);
    const c2 = (await profiles(sandbox)).find((profile) => profile.user_id === "c2");
    expect(c2).toEqual({
      user_id: "c2",
      metadata: { plan: "free", trial: false, signed_up: "2024-05-01T11:45:00.000Z" },
    });
  });

  test("companies, with a numeric column", async () => {
    const result = await runCli(
      ["companies", join(FIXTURES, "companies.csv"), "--types", "employees=number,public=boolean", ...FAST],
      { env: env() },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("rejected line 4: company_id: is required");
    expect(await profiles(sandbox, "companies")).toEqual([
      { company_id: "acme", metadata: { name: "Acme Inc", employees: 120, public: true } },
      { company_id: "globex", metadata: { name: "Globex, Corp", public: false } },
    ]);
  });
});

test("a JSON array is read element by element; the report names element indexes", async () => {
  const file = join(tmp.path, "users.json");
  copyFileSync(join(FIXTURES, "users-array.json.txt"), file);
  const report = join(tmp.path, "json-report.ndjson");
  const result = await runCli(["users", file, "--report", report, ...FAST], { env: env() });
  expect(result.code).toBe(1);
  expect(await profiles(sandbox)).toEqual([
    { user_id: "j1", metadata: { tags: 'a]b{c"d', n: 2 } },
    { user_id: "j2", company_id: "acme", metadata: { n: 1000 } },
  ]);
  expect(readReport(report)).toEqual([
    { element: 1, path: "user_id", message: "user_id must be a string, received a number" },
    { element: 3, path: "", message: "element is not valid JSON" },
    { element: 5, path: "", message: "row must be an object, received a string" },
  ]);
  expectNoLeaks(result, report);
});

test("standard input: NDJSON by default, CSV with --format csv", async () => {
  const ndjson = readFileSync(join(FIXTURES, "mixed-users.ndjson"), "utf8");
  const fromNdjson = await runCli(["users", "-", ...FAST], { env: env(), stdin: ndjson });
  expect(fromNdjson.code).toBe(1);
  expect(await profiles(sandbox)).toEqual(MIXED_PROFILES);

  await sandbox.reset();
  const fromCsv = await runCli(["users", "-", "--format", "csv", ...FAST], {
    env: env(),
    stdin: "user_id,plan\ns1,pro\ns2,free\n",
  });
  expect(fromCsv.code).toBe(0);
  expect(await profiles(sandbox)).toEqual([
    { user_id: "s1", metadata: { plan: "pro" } },
    { user_id: "s2", metadata: { plan: "free" } },
  ]);
});

test("--dry-run validates and reports, sends nothing, and needs no API key", async () => {
  const report = join(tmp.path, "dry-report.ndjson");
  const result = await runCli(
    ["users", join(FIXTURES, "mixed-users.ndjson"), "--dry-run", "--json", "--report", report],
    { env: { USERPILOT_BASE_URL: sandbox.baseUrl } },
  );
  expect(result.code).toBe(1);
  expect(readReport(report)).toEqual(MIXED_REPORT);
  expect(summaryOf(result)).toMatchObject({ dryRun: true, rowsRead: 12, rowsRejected: 6, rowsPlanned: 3 });
  const after = await stats();
  expect(after.requests).toBe(0);
  expect(after.rows.received).toBe(0);
});

test("a column Userpilot sets itself (last_seen_at) is sent as given, with one note naming it", async () => {
  const file = join(tmp.path, "seen.csv");
  writeFileSync(file, "user_id,last_seen_at,plan\nu1,2024-05-01,pro\nu2,2024-05-02,free\n");
  const result = await runCli(["users", file, "--json", ...FAST], { env: env() });
  expect(result.code).toBe(0);
  const notes = result.events.filter((event) => event["type"] === "note").map((event) => event["message"]);
  expect(notes).toEqual([
    "line 2: metadata.last_seen_at is set by Userpilot itself: the value is sent as given, but Userpilot may keep its own (use a property of your own for your own time)",
  ]);
  expect((await profiles(sandbox)).map((profile) => profile.metadata["last_seen_at"])).toEqual([
    "2024-05-01",
    "2024-05-02",
  ]);
});

test("--upload sends each job as an NDJSON file in a multipart body", async () => {
  const result = await runCli(["users", join(FIXTURES, "mixed-users.ndjson"), "--upload", ...FAST], {
    env: env(),
  });
  expect(result.code).toBe(1);
  expect(await profiles(sandbox)).toEqual(MIXED_PROFILES);
  const response = await fetch(`${sandbox.baseUrl}/v1/background_jobs`, {
    headers: { Authorization: `Token ${API_KEY}` },
  });
  const jobs = (await response.json()) as { filename: string | null }[];
  expect(jobs.map((job) => job.filename)).toEqual(["users.ndjson"]);
});

describe("exit code 2, with one clear line", () => {
  const file = join(FIXTURES, "mixed-users.ndjson");

  test("a wrong key (the app token): 401 with the hint, and the key is never printed", async () => {
    const appToken = "NX-cli-test-app-token-9d1";
    const result = await runCli(["users", file, "--json", ...FAST], {
      env: { USERPILOT_API_KEY: appToken, USERPILOT_BASE_URL: sandbox.baseUrl },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/userpilot-bulk: authentication failed: .*401.*not the NX- app token/);
    expect(summaryOf(result)).toMatchObject({ status: "failed", exitCode: 2 });
    expect(result.stdout + result.stderr).not.toContain(appToken);
  });

  test("no API key", async () => {
    const result = await runCli(["users", file], { env: { USERPILOT_BASE_URL: sandbox.baseUrl } });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^userpilot-bulk: USERPILOT_API_KEY is not set/);
  });

  test("nobody listening: a network failure", async () => {
    const result = await runCli(
      ["users", file, "--base-url", "http://127.0.0.1:9", "--max-attempts", "2", ...FAST],
      { env: { USERPILOT_API_KEY: API_KEY } },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/userpilot-bulk: network failure: POST http:\/\/127\.0\.0\.1:9\/v1\/users/);
    expect(result.stderr).not.toContain(API_KEY);
  });

  test.each([
    [["users"], "users needs a file, - for standard input, or --from-postgres"],
    [["people", "x.csv"], 'unknown command "people"'],
    [["users", "x.txt"], "cannot tell the format of x.txt from its extension; pass --format"],
    [
      ["users", "x.ndjson", "--types", "a=number"],
      "--types, --empty-as-null and --delimiter apply to CSV input only",
    ],
    [["users", "x.csv", "--max-rows", "10001"], "--max-rows must be a whole number from 1 to 10000"],
    [["users", "-", "--resume", "state.json"], "--resume needs a file"],
    [["users", "x.csv", "--api-key", "k"], "Unknown option '--api-key'"],
    [["users", "missing.csv"], "cannot read missing.csv: no such file"],
  ])("usage: %j", async (args, message) => {
    const result = await runCli(args, { env: env() });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });

  test("a CSV without the id column", async () => {
    const file = join(tmp.path, "no-id.csv");
    writeFileSync(file, "id,plan\n1,pro\n");
    const result = await runCli(["users", file], { env: env() });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("userpilot-bulk: the CSV header has no user_id column");
  });
});
