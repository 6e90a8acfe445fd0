/**
 * The Node part of `npm test`: the main suite (`vitest run`, every project, on this Node: 24, or
 * your own 22.12+) and the floor suites on Node 20 and 22 (scripts/test-floor.ts) at the same
 * time. The main suite waits on workerd, wrangler and child processes much of the time, and so
 * do the floor suites: together they take little longer than the main suite alone. The main
 * suite's output comes as it runs; the floor suites' when they end.
 */
import process from "node:process";
import { report, runVitest, startFloorSuites } from "./test-floor.ts";

const floors = startFloorSuites();
const main = runVitest(process.execPath, [], `the main suite on Node ${process.versions.node}`, false);
await report([main, ...floors]);
