/**
 * Preloaded into a child process (`node --import`): prints its peak resident set size on exit, so a
 * test can hold a run to a memory bound without an external tool.
 */
import process from "node:process";

process.on("exit", () => {
  process.stderr.write(`\nPEAK_RSS_KB ${process.resourceUsage().maxRSS}\n`);
});
