/**
 * A Hono app on a long-lived server, the same file on Node (@hono/node-server), Bun (Bun.serve)
 * and Deno (Deno.serve): one ingest client for the process (`createIngestClient.fromEnv`), shared
 * by every request through the `userpilotIdentify` middleware, so identifies of all requests go
 * in a few batched POSTs; handlers call `c.var.userpilot`; SIGTERM closes the client, which sends
 * what still waits. Prints `{"listening": port}` when ready and the client's totals when closed.
 *   USERPILOT_INGEST_URL=… USERPILOT_INGEST_KEY=… node --import tsx examples/hono-server.ts
 *   USERPILOT_INGEST_URL=… USERPILOT_INGEST_KEY=… bun examples/hono-server.ts
 *   USERPILOT_INGEST_URL=… USERPILOT_INGEST_KEY=… deno run --allow-net --allow-env --allow-read examples/hono-server.ts
 *   curl localhost:PORT/ -H 'X-User: user_123' -H 'X-Visit: 1'
 * (In your project: import from "userpilot-bulk" and "userpilot-bulk/hono".)
 */
import process from "node:process";
import { Hono } from "hono";
import { createIngestClient } from "../mod.ts";
import { userpilotIdentify, type UserpilotVariables } from "../src/hono/mod.ts";

type AppEnv = { Variables: UserpilotVariables & { user?: { id: string; visit: number } } };

const userpilot = createIngestClient.fromEnv(process.env, {
  flushAt: Number(process.env["FLUSH_AT"] ?? 1000),
  flushIntervalMs: Number(process.env["FLUSH_INTERVAL_MS"] ?? 10_000),
  onError: (error) => console.error(`userpilot: ${error.message}`),
});

const app = new Hono<AppEnv>();
// Stand-in for your auth middleware.
app.use(async (c, next) => {
  const id = c.req.header("X-User");
  if (id) c.set("user", { id, visit: Number(c.req.header("X-Visit")) });
  await next();
});
app.use(userpilotIdentify<AppEnv>({
  client: userpilot,
  getUser: (c) => c.var.user && { user_id: c.var.user.id, metadata: { visit: c.var.user.visit } },
}));
app.get("/", (c) => c.text("ok"));
app.post("/invoices", (c) => {
  // Never awaited, never throws: the response does not wait for the endpoint.
  if (c.var.user) c.var.userpilot.track({ user_id: c.var.user.id, event_name: "invoice_paid" });
  return c.body(null, 204);
});

/** The runtime's own server, on a free loopback port (PORT to choose one); resolves with the port and a stop. */
type Serve = () => Promise<{ port: number; stop: () => void }>;
const runtime = globalThis as unknown as {
  Deno?: {
    serve(
      options: { port: number; hostname: string; onListen: (addr: { port: number }) => void },
      handler: (request: Request) => Response | Promise<Response>,
    ): { shutdown(): Promise<void> };
    addSignalListener(signal: "SIGTERM", handler: () => void): void;
  };
  Bun?: {
    serve(
      options: { port: number; hostname: string; fetch: (request: Request) => Response | Promise<Response> },
    ): {
      port: number;
      stop(): void;
    };
  };
};
const PORT = Number(process.env["PORT"] ?? 0);
const serve: Serve = runtime.Deno
  ? () =>
    new Promise((resolve) => {
      const server = runtime.Deno!.serve(
        {
          port: PORT,
          hostname: "127.0.0.1",
          onListen: ({ port }) => resolve({ port, stop: () => void server.shutdown() }),
        },
        app.fetch,
      );
    })
  : runtime.Bun
  ? () => {
    const server = runtime.Bun!.serve({ port: PORT, hostname: "127.0.0.1", fetch: app.fetch });
    return Promise.resolve({ port: server.port, stop: () => server.stop() });
  }
  : async () => {
    const { serve: nodeServe } = await import("@hono/node-server"); // npm install @hono/node-server
    return new Promise((resolve) => {
      const server = nodeServe(
        { fetch: app.fetch, port: PORT, hostname: "127.0.0.1" },
        ({ port }) => resolve({ port, stop: () => server.close() }),
      );
    });
  };

const { port, stop } = await serve();
console.log(JSON.stringify({ listening: port }));

// Without this, calls still waiting for a batch would be lost when the process is stopped.
const shutdown = async (): Promise<void> => {
  stop();
  console.log(JSON.stringify(await userpilot.close({ timeoutMs: 10_000 })));
  process.exit(0);
};
if (runtime.Deno) runtime.Deno.addSignalListener("SIGTERM", () => void shutdown());
else process.once("SIGTERM", () => void shutdown());
