/**
 * Whether this Node has `node:sqlite` (22.5+), which the simulator and the SQLite store suites need;
 * the project's own Node (24) has it. On an older Node their files are skipped with a line saying so.
 */
import process from "node:process";

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);

/** True when `node:sqlite` can be imported. */
export const HAS_SQLITE: boolean = major > 22 || (major === 22 && minor >= 5);

if (!HAS_SQLITE) {
  console.warn(
    `test/sim skipped: node:sqlite needs Node 22.5 or later, this is ${process.version} (npm test runs the project's own Node 24)`,
  );
}
