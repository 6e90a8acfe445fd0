/**
 * A Hono server as a user writes one, run as is on Node (@hono/node-server), Bun (Bun.serve) and
 * Deno (Deno.serve) by `test/hono/servers.test.ts`: one long-lived ingest client for the process
 * (`createIngestClient.fromEnv`), the middleware identifying each visitor, and `close()` on
 * SIGTERM. Prints `{"listening": port}` when ready and the client's totals when closed.
 *   USERPILOT_INGEST_URL=… USERPILOT_INGEST_KEY=… FLUSH_AT=300 node --import tsx test/hono/server-app.ts
 */
import process from "node:process";
import { Hono } from "hono";
import { createIngestClient } from "../../mod.ts";
import { userpilotIdentify, type UserpilotVariables } from "../../src/hono/mod.ts";

type AppEnv = { Variables: UserpilotVariables & { user?: { id: string; visit: number } } };

const userpilot = createIngestClient.fromEnv(process.env, {
  flushAt: Number(process.env["FLUSH_AT"] ?? 1000),
  flushIntervalMs: Number(process.env["FLUSH_INTERVAL_MS"] ?? 10_000),
  onError: (error) => console.error(`userpilot: ${error.message}`),
});

const app = new Hono<AppEnv>();
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

/** The runtime's own server, on a free loopback port; resolves with the port and a stop. */
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
const serve: Serve = runtime.Deno
  ? () =>
    new Promise((resolve) => {
      const server = runtime.Deno!.serve(
        {
          port: 0,
          hostname: "127.0.0.1",
          onListen: ({ port }) => resolve({ port, stop: () => void server.shutdown() }),
        },
        app.fetch,
      );
    })
  : runtime.Bun
  ? () => {
    const server = runtime.Bun!.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
    return Promise.resolve({ port: server.port, stop: () => server.stop() });
  }
  : async () => {
    const { serve: nodeServe } = await import("@hono/node-server");
    return new Promise((resolve) => {
      const server = nodeServe(
        { fetch: app.fetch, port: 0, hostname: "127.0.0.1" },
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
