/**
 * `npm run sandbox`: serve the local Userpilot sandbox on http://127.0.0.1:4010 (Node).
 * Flags: --port N, --rows-per-minute N, --api-key KEY (repeatable), --seed N.
 */
import { serve } from "@hono/node-server";
import { parseArgs } from "node:util";
import { createSandbox, SANDBOX_API_KEY } from "../src/sandbox/mod.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "4010" },
    host: { type: "string", default: "127.0.0.1" },
    "rows-per-minute": { type: "string", default: "1200" },
    "api-key": { type: "string", multiple: true },
    seed: { type: "string" },
  },
});
const apiKeys = values["api-key"] ?? [SANDBOX_API_KEY];
const app = createSandbox({
  apiKeys,
  rowsPerMinute: Number(values["rows-per-minute"]),
  seed: values.seed === undefined ? undefined : Number(values.seed),
});
const server = serve({ fetch: app.fetch, hostname: values.host, port: Number(values.port) }, (info) => {
  console.log(
    `Userpilot sandbox on http://${values.host}:${info.port} (API key: ${apiKeys.join(", ")}, ${
      values["rows-per-minute"]
    } rows/min)`,
  );
  console.log(`Inspect: GET /__sandbox/stats, /__sandbox/users/:id; inject faults: POST /__sandbox/faults`);
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
