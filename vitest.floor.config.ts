import { defineConfig } from "vitest/config";

// The floor suites (npm run test:floor, scripts/test-floor.ts): what the package promises on every
// Node from 20.19, run on Node 20 and 22 besides the main run on 24. The core's contract suite and
// the CLI tests; the CLI's Deno and Bun smoke (runtimes.test.ts) does not depend on Node.
// Nothing here loads wrangler or the Workers test pool, which need Node 22.12.
export default defineConfig({
  test: {
    name: "floor",
    include: ["test/contract/node.test.ts", "test/cli/**/*.test.ts"],
    exclude: ["test/cli/runtimes.test.ts"],
    // Some CLI tests start wrangler dev, on a loaded 2-core CI box.
    testTimeout: 30_000,
  },
});
