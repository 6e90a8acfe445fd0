import { Hono } from "hono";
import type { Context } from "hono";
import * as v from "valibot";
import { bulkRoutes } from "./bulk-routes.ts";
import { fail, type SandboxConfig, type SandboxContext } from "./context.ts";
import { deleteRoutes } from "./delete-routes.ts";
import { type Faults, FaultsSchema, seededRandom } from "./faults.ts";
import { inspectRoutes } from "./inspect-routes.ts";
import { realtimeRoutes } from "./realtime-routes.ts";
import { SandboxState } from "./state.ts";

/** Options of {@link createSandbox}. */
export interface SandboxOptions {
  /** API keys accepted as `Authorization: Token <key>`. Default `["sandbox-api-key"]`. */
  apiKeys?: readonly string[] | undefined;
  /** Rows a job processes per minute. Default 1,200, Userpilot's documented rate. */
  rowsPerMinute?: number | undefined;
  /** How long a new job stays queued before it is processed. Default 200 ms. */
  queueMs?: number | undefined;
  /** Faults to inject from the start (see `POST /__sandbox/faults`). */
  faults?: Partial<Faults> | undefined;
  /** Seed for fault dice, so a run can be replayed. Default: random. */
  seed?: number | undefined;
  /** Clock, for tests. Default `Date.now`. */
  now?: (() => number) | undefined;
  /** Job ids, for a run that must replay exactly (a simulator). Default: random UUIDs. */
  jobIds?: (() => string) | undefined;
}

/** The default development key of the sandbox. */
export const SANDBOX_API_KEY = "sandbox-api-key";

/**
 * Drop the connection. Served by `@hono/node-server`, the socket is cut (its response object
 * arrives as `env.outgoing`); in memory, the body breaks off, which a client reads the same way.
 */
function dropConnection(c: Context): Response {
  const outgoing = (c.env as { outgoing?: { destroy?: () => void } } | undefined)?.outgoing;
  if (typeof outgoing?.destroy === "function") {
    outgoing.destroy();
    return new Response(null, { status: 500 }); // never reaches the client
  }
  return brokenResponse();
}

function brokenResponse(): Response {
  const body = new ReadableStream({
    pull(controller) {
      controller.error(new Error("connection dropped by the sandbox"));
    },
  });
  return new Response(body, { status: 200, headers: { "Content-Type": "application/json" } });
}

/**
 * A local stand-in for Userpilot that follows `docs/userpilot-api.md`: `Token` auth, validation, 413,
 * 409 while a job runs, jobs processed at `rowsPerMinute`, merges applied as rows are processed,
 * the real-time routes at 600 calls a minute, deletes at one request every 2 seconds, plus
 * inspection and fault injection under `/__sandbox/`.
 *
 * @example
 * ```ts
 * import { createSandbox } from "userpilot-bulk/sandbox";
 * const sandbox = createSandbox({ rowsPerMinute: 600_000 });
 * const client = new UserpilotClient({ apiKey: "sandbox-api-key", baseUrl: "http://sandbox.localhost",
 *   fetch: (request) => sandbox.fetch(request) });
 * ```
 */
export function createSandbox(options: SandboxOptions = {}): Hono {
  const apiKeys = new Set(options.apiKeys ?? [SANDBOX_API_KEY]);
  const config: SandboxConfig = {
    rowsPerMinute: options.rowsPerMinute ?? 1200,
    queueMs: options.queueMs ?? 200,
    realtimeLimit: 600,
    realtimeWindowMs: 60_000,
    deleteIntervalMs: 2_000,
  };
  if (!(config.rowsPerMinute > 0)) throw new RangeError("rowsPerMinute must be above 0");
  let random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  const sandbox: SandboxContext = {
    state: new SandboxState(),
    config,
    faults: v.parse(FaultsSchema, options.faults ?? {}),
    roll: (rate) => rate > 0 && random() < rate,
    random: () => random(),
    reseed: (seed) => (random = seededRandom(seed)),
    now: options.now ?? Date.now,
    jobId: options.jobIds ?? (() => crypto.randomUUID()),
  };
  const { state, now } = sandbox;

  const app = new Hono();

  app.use("*", async (_c, next) => {
    state.advance(now());
    await next();
  });

  // Userpilot's own routes: counted, faulted, authenticated.
  app.use("/v1/*", async (c, next) => {
    state.stats.requests++;
    if (sandbox.roll(sandbox.faults.latencyRate)) {
      state.stats.faults.delayed++;
      await new Promise((resolve) => setTimeout(resolve, sandbox.faults.latencyMs));
      state.advance(now());
    }
    const drop = sandbox.roll(sandbox.faults.dropRate)
      ? (sandbox.random() < 0.5 ? "before" : "after")
      : undefined;
    if (drop === "before") {
      state.stats.faults.dropped++;
      return dropConnection(c);
    }
    if (sandbox.roll(sandbox.faults.rate429)) {
      state.stats.faults.rateLimited++;
      c.header("Retry-After", String(sandbox.faults.retryAfterSeconds));
      return count(fail(c, 429, "rate_limited", "Too many requests"));
    }
    if (sandbox.roll(sandbox.faults.rate5xx)) {
      state.stats.faults.serverErrors++;
      const status = ([500, 502, 503] as const)[Math.floor(sandbox.random() * 3)] ?? 500;
      return count(c.text("Internal error (injected by the sandbox)", status));
    }
    const auth = c.req.header("Authorization") ?? "";
    const token = auth.startsWith("Token ") ? auth.slice(6) : "";
    if (!apiKeys.has(token) || sandbox.faults.revokedKeys.includes(token)) {
      const hint = sandbox.faults.revokedKeys.includes(token)
        ? "This API key was revoked"
        : token.startsWith("NX-")
        ? "This looks like the app token; bulk and server calls need the API key from Environment settings"
        : "Invalid or missing API key; send Authorization: Token <API_KEY>";
      return count(fail(c, 401, "unauthorized", hint));
    }
    await next();
    count(c.res);
    if (drop === "after") {
      state.stats.faults.dropped++;
      c.res = dropConnection(c);
    }
  });

  function count(response: Response): Response {
    const key = String(response.status);
    state.stats.statuses[key] = (state.stats.statuses[key] ?? 0) + 1;
    return response;
  }

  app.route("/", bulkRoutes(sandbox));
  app.route("/", realtimeRoutes(sandbox));
  app.route("/", deleteRoutes(sandbox));
  app.route("/__sandbox", inspectRoutes(sandbox));
  app.notFound((c) => fail(c, 404, "not_found", "No such route"));
  return app;
}
