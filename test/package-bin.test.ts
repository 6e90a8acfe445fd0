/**
 * The installed `userpilot-bulk` bin as a shell starts it, on every Node the package promises:
 * the tarball installed into a fresh project, the bin run through `/bin/sh` with a PATH holding
 * only a minimal `env` (no options at all, as BusyBox's `env` in Alpine images long was) and one
 * Node. Its shebang is read as Linux reads one: the interpreter, then the rest of the line as a
 * single argument, which is how `env -S node --flag` would reach that `env`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { floorNodes } from "../scripts/toolchain.ts";

const work = mkdtempSync(join(tmpdir(), "userpilot-bin-"));
const project = join(work, "cron-job");
const version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string;
}).version;

/** A POSIX `env` with no options: NAME=VALUE pairs, then the command, found on PATH. */
const MINIMAL_ENV = `#!/bin/sh
case "$1" in -*) echo "env: unrecognized option: $1" >&2; exit 125;; esac
while :; do case "$1" in *=*) export "$1"; shift;; *) break;; esac; done
exec "$@"
`;

let bin = "";
let rows = "";

beforeAll(() => {
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "cron-job", private: true }));
  // From the local cache where it can (npm ci filled it); the registry only for what is missing.
  execFileSync("npm", ["install", inject("tarball"), "--no-audit", "--no-fund", "--prefer-offline"], {
    cwd: project,
    stdio: "ignore",
  });
  bin = join(project, "node_modules/.bin/userpilot-bulk");
  rows = join(work, "users.ndjson");
  writeFileSync(rows, '{"user_id":"u1","metadata":{"plan":"pro"}}\n{"user_id":""}\n');
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

test("the bin's shebang is `#!/usr/bin/env node`: no `env -S`, no flags", () => {
  expect(readFileSync(bin, "utf8").split("\n")[0]).toBe("#!/usr/bin/env node");
});

/** The Nodes to run it on: this one (24, or the developer's 22.12+) and the floor binaries here. */
const nodes = [
  { label: `Node ${process.versions.node}`, path: process.execPath },
  ...floorNodes().flatMap((floor) => floor.path ? [{ label: `Node ${floor.pinned}`, path: floor.path }] : []),
];

describe.each(nodes)("$label", ({ path: node }) => {
  // A PATH of two directories: the minimal env, and this Node alone.
  const tools = join(work, `path-${nodes.findIndex((entry) => entry.path === node)}`);
  beforeAll(() => {
    mkdirSync(join(tools, "env"), { recursive: true });
    writeFileSync(join(tools, "env/env"), MINIMAL_ENV);
    chmodSync(join(tools, "env/env"), 0o755);
    mkdirSync(join(tools, "node"), { recursive: true });
    symlinkSync(node, join(tools, "node/node"));
  });

  /** Run `bin args` through /bin/sh as Linux would, with the interpreter's `env` taken from PATH. */
  const viaShebang = (args: string[]) => {
    const [interpreter, argument] = /^#!(\S+)(?:[ \t]+(.*))?$/.exec(
      readFileSync(bin, "utf8").split("\n")[0]!,
    )!
      .slice(1);
    expect(interpreter).toBe("/usr/bin/env");
    const script = 'exec env "$@"'; // `env` is the minimal one: first (and only) on PATH
    return spawnSync("/bin/sh", ["-c", script, "sh", ...(argument ? [argument] : []), bin, ...args], {
      cwd: work,
      encoding: "utf8",
      env: { PATH: `${join(tools, "env")}:${join(tools, "node")}`, HOME: work, USERPILOT_API_KEY: "k" },
    });
  };

  test("--version, started through /bin/sh with only a minimal env and this Node on PATH", () => {
    const result = viaShebang(["--version"]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(`${version}\n`);
    expect(result.status).toBe(0);
  });

  test("a dry run of a file: the good row counted, the bad one reported by line", () => {
    const result = viaShebang(["users", rows, "--dry-run", "--json"]);
    const summary = result.stdout.split("\n").filter((line) => line.includes('"type":"summary"'));
    expect(summary.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ rowsRead: 2, rowsRejected: 1 }),
    ]);
    expect(result.status).toBe(1);
  });

  test("the bin itself, started by the shell as a program (the kernel reads its shebang)", () => {
    const result = spawnSync("/bin/sh", ["-c", "userpilot-bulk --version"], {
      encoding: "utf8",
      env: { PATH: `${dirname(bin)}:${join(tools, "node")}:/usr/bin:/bin` },
    });
    expect(result.stdout).toBe(`${version}\n`);
    expect(result.status).toBe(0);
  });
});
