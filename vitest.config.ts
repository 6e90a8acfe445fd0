import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { createSandbox, SANDBOX_API_KEY } from "./src/sandbox/mod.ts";
import { assertDevelopmentNode } from "./scripts/toolchain.ts";
import { COMPATIBILITY_DATE } from "./test/support/compatibility-date.ts";
import { TEST_ADMIN_KEYS, TEST_INGEST_KEYS, TEST_SIGNING_SECRETS } from "./test/support/credentials.ts";

// The Workers projects load wrangler and Miniflare, which need Node 22.12: say so plainly.
assertDevelopmentNode();

// The Userpilot the Worker talks to in tests: the sandbox, running in this Node process and
// reached through the Worker's optional USERPILOT service binding.
const userpilot = createSandbox({ rowsPerMinute: 600_000, queueMs: 5 });

// System tests start processes, servers on 127.0.0.1, wrangler, a browser, or pack the package;
// everything else in Node is a unit test (in memory, fast). Both projects run in `npm test`;
// `vitest run --project unit` is the quick loop while working.
const SYSTEM_TESTS = [
  "test/browser/**/*.test.ts",
  "test/cli/cli.test.ts",
  "test/cli/conventions.test.ts",
  "test/cli/state-safety.test.ts",
  "test/cli/faults.test.ts",
  "test/cli/gateway.test.ts",
  "test/cli/gzip.test.ts",
  "test/cli/resume.test.ts",
  "test/cli/shown-errors.test.ts",
  "test/cli/runtimes.test.ts",
  "test/cli/state.test.ts",
  "test/core/ingest-server.test.ts",
  "test/hono/servers.test.ts",
  "test/examples.test.ts",
  "test/package-core.test.ts",
  "test/package.test.ts",
  "test/package-bin.test.ts",
  "test/package-worker.test.ts",
  "test/postgres-package.test.ts",
  "test/sandbox/http.test.ts",
  "test/stack.test.ts",
  "test/worker-build.test.ts",
  "test/worker-env.test.ts",
];
const NOT_NODE = ["test/workerd/**", "test/worker/**", "test/runtimes/**"];
// Tests against a real PostgreSQL server, which their global setup starts (and stops).
const POSTGRES_TESTS = ["test/postgres/**/*.test.ts"];

export default defineConfig({
  test: {
    // The Worker's structured logs are for production; keep test output readable.
    onConsoleLog: (line) => !line.startsWith('{"level"'),
    projects: [
      {
        test: {
          name: "unit",
          testTimeout: 30_000, // property runs on a loaded 2-core CI box
          include: ["test/**/*.test.ts"],
          exclude: [...NOT_NODE, ...SYSTEM_TESTS, ...POSTGRES_TESTS],
        },
      },
      {
        test: {
          name: "system",
          // Some files start wrangler or pack the package; a loaded 2-core CI box is slow.
          testTimeout: 30_000,
          include: SYSTEM_TESTS,
          globalSetup: ["test/support/packed.global.ts"],
        },
      },
      {
        test: {
          name: "postgres",
          include: POSTGRES_TESTS,
          globalSetup: ["test/postgres/postgres.global.ts"],
          // One server for every file, and files end each other's sessions on purpose: one at a time.
          fileParallelism: false,
          // Child processes and a million rows on a loaded 2-core CI box.
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        plugins: [cloudflareTest({ miniflare: { compatibilityDate: COMPATIBILITY_DATE } })],
        test: { name: "workerd", include: ["test/workerd/**/*.test.ts"] },
      },
      {
        plugins: [
          cloudflareTest({
            main: "./src/worker/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                USERPILOT_API_KEY: SANDBOX_API_KEY,
                USERPILOT_BASE_URL: "http://userpilot.localhost",
                // Named, scoped and bare credentials (test/support/credentials.ts).
                INGEST_KEYS: TEST_INGEST_KEYS,
                INGEST_SIGNING_SECRETS: TEST_SIGNING_SECRETS,
                ALLOWED_ORIGINS: "https://app.example.com",
                POLL_INTERVAL_MS: "10",
                ADMIN_KEYS: TEST_ADMIN_KEYS,
                BACKOFF_BASE_MS: "10",
                BACKOFF_MAX_MS: "200",
                // Real-time pacing 60 times faster than Userpilot's (the gateway tests run the
                // sandbox's rate-limit window at 1 s instead of a minute): 500 events a second,
                // a delete every 33 ms.
                TRACK_PER_MINUTE: "30000",
                DELETE_INTERVAL_MS: "33",
                // Longer than the Queue's 2 s batch timeout, so an identify sent first arrives first.
                EVENT_HOLD_MS: "3000",
              },
              serviceBindings: {
                USERPILOT: async (request: Request) => await userpilot.fetch(request),
              },
            },
          }),
        ],
        test: {
          name: "worker",
          // workerd cannot read this process's environment: the fault tests' TEST_SEED goes in here.
          provide: { testSeedOverride: process.env["TEST_SEED"] ?? "" },
          // A Cloudflare Access key endpoint on 127.0.0.1, which workerd's fetch reaches (Miniflare's network allows it).
          globalSetup: ["test/support/jwks.global.ts"],
          include: ["test/worker/**/*.test.ts"],
          // One sandbox serves every file: run them one at a time.
          fileParallelism: false,
          testTimeout: 60_000,
        },
      },
    ],
  },
});
