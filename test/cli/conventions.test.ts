import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { describe, expect, test } from "vitest";
import { FAST, profiles, ROOT, runCli, type Runtime, sandboxForFile } from "./support.ts";

// What a command-line user expects of any tool: --version, plain output where escape codes do
// not belong, and the CSV dialects warehouses export (semicolons, tabs, upper-case headers).
const { sandbox, tmp, env } = sandboxForFile();
const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

describe.each(["node", "deno", "bun"] as Runtime[])("%s", (runtime) => {
  test("--version prints package.json's version and exits 0", async () => {
    const result = await runCli(["--version"], { runtime });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${version}\n`);
  });
});

test("the README's `node_modules/.bin/deno task cli` runs the CLI on Deno, with its permissions", () => {
  const result = spawnSync(join(ROOT, "node_modules/.bin/deno"), ["task", "--quiet", "cli", "--version"], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  expect(result.stderr).toBe("");
  expect(result.stdout).toBe(`${version}\n`);
  expect(result.status).toBe(0);
});

test("a semicolon-separated export with USER_ID and padded headers arrives as typed rows", async () => {
  const file = join(tmp.path, "warehouse.csv");
  writeFileSync(file, 'USER_ID; Company_Id ;SEATS;note\r\nu1;acme;3;"a;b, c"\r\nu2;globex;5;plain\r\n');
  const result = await runCli(["users", file, "--delimiter", ";", "--types", "SEATS=number", ...FAST], {
    env: env(),
  });
  expect(result.code).toBe(0);
  expect(await profiles(sandbox)).toEqual([
    { user_id: "u1", company_id: "acme", metadata: { SEATS: 3, note: "a;b, c" } },
    { user_id: "u2", company_id: "globex", metadata: { SEATS: 5, note: "plain" } },
  ]);
});

test("a .tsv file is read with tabs by its extension; commas in it are data", async () => {
  const file = join(tmp.path, "companies.tsv");
  writeFileSync(file, "company_id\tname\tplan\nacme\tAcme, Inc.\tpro\n");
  const result = await runCli(["companies", file, ...FAST], { env: env() });
  expect(result.code).toBe(0);
  expect(await profiles(sandbox, "companies")).toEqual([
    { company_id: "acme", metadata: { name: "Acme, Inc.", plan: "pro" } },
  ]);
});

describe("escape codes", () => {
  const csv = join(tmp.path, "dry.csv");
  writeFileSync(csv, "user_id,plan\nu1,pro\nu2,free\n");
  const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;
  const cli = [process.execPath, "--import", "tsx", "src/cli/main.ts", "users", csv, "--dry-run"];

  /** Runs a dry run, on a pseudo-terminal (through util-linux `script`) or on pipes; all its output. */
  function dryRun(terminal: boolean, extraEnv: Record<string, string>): string {
    const environment: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && key !== "NO_COLOR" && key !== "TERM") environment[key] = value;
    }
    Object.assign(environment, { TERM: "xterm-256color" }, extraEnv);
    const [command, args] = terminal
      ? ["script", ["-qec", cli.map(quote).join(" "), "/dev/null"]]
      : [cli[0]!, cli.slice(1)];
    const run = spawnSync(command, args, { cwd: ROOT, env: environment, encoding: "utf8", timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(`${run.stdout}${run.stderr}`).toContain("2 user rows read");
    return `${run.stdout}${run.stderr}`;
  }

  test("a terminal gets the redrawn progress line", () => {
    expect(dryRun(true, {})).toContain("\x1b[2K");
  });

  test.each([
    ["TERM=dumb", true, { TERM: "dumb" }],
    ["NO_COLOR=1", true, { NO_COLOR: "1" }],
    ["not a terminal", false, {}],
  ])("%s: plain lines, no escape codes", (_name, terminal, extraEnv) => {
    expect(dryRun(terminal, extraEnv)).not.toContain("\x1b");
  });
});
