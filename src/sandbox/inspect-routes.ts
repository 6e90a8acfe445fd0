import { Hono } from "hono";
import type { Context } from "hono";
import * as v from "valibot";
import type { SandboxContext } from "./context.ts";
import { FaultsSchema, NO_FAULTS } from "./faults.ts";
import { jsonBody } from "./realtime-routes.ts";
import { jobView, profileView } from "./state.ts";

/** `POST /__sandbox/config`: settings for what happens from now on. */
const ConfigSchema = v.strictObject({
  rowsPerMinute: v.optional(v.pipe(v.number(), v.gtValue(0))),
  queueMs: v.optional(v.pipe(v.number(), v.minValue(0))),
  realtimeLimit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  realtimeWindowMs: v.optional(v.pipe(v.number(), v.gtValue(0))),
  deleteIntervalMs: v.optional(v.pipe(v.number(), v.minValue(0))),
});

/** The sandbox's own routes answer bad settings in the project's error shape. */
function invalidRequest(c: Context, issues: readonly v.BaseIssue<unknown>[]): Response {
  return c.json({
    error: "invalid_request",
    issues: issues.map((i) => ({ path: v.getDotPath(i) ?? "", message: i.message })),
  }, 400);
}

/**
 * Inspection and control under `/__sandbox/`: profiles as Userpilot holds them, events received,
 * deletions requested (and the daily deletion job, run on demand), counters, reset, settings and
 * fault injection.
 */
export function inspectRoutes(sandbox: SandboxContext): Hono {
  const { state, config, now } = sandbox;
  const app = new Hono();
  app.get("/users", (c) => c.json([...state.users.values()].map((p) => profileView(p, "user_id"))));
  app.get(
    "/companies",
    (c) => c.json([...state.companies.values()].map((p) => profileView(p, "company_id"))),
  );
  app.get("/users/:id", (c) => {
    const profile = state.users.get(c.req.param("id"));
    return profile ? c.json(profileView(profile, "user_id")) : c.json({ error: "not_found" }, 404);
  });
  app.get("/companies/:id", (c) => {
    const profile = state.companies.get(c.req.param("id"));
    return profile ? c.json(profileView(profile, "company_id")) : c.json({ error: "not_found" }, 404);
  });
  app.get(
    "/events",
    (c) => c.json(state.events.map((event) => ({ ...event, at: new Date(event.at).toISOString() }))),
  );
  app.get(
    "/deletions",
    (c) => c.json(state.deletions.map((request) => ({ ...request, at: new Date(request.at).toISOString() }))),
  );
  app.post("/run-deletions", (c) => c.json({ deleted: state.runDeletions() }));
  app.get("/stats", (c) =>
    c.json({
      ...state.stats,
      rowsPerMinute: config.rowsPerMinute,
      activeJob: state.active ? jobView(state.active, now()) : null,
    }));
  app.post("/reset", (c) => {
    state.reset();
    sandbox.faults = NO_FAULTS;
    return c.json({ reset: true });
  });
  app.get("/config", (c) => c.json(config));
  app.post("/config", async (c) => {
    const result = v.safeParse(ConfigSchema, await jsonBody(c));
    if (!result.success) return invalidRequest(c, result.issues);
    for (const [key, value] of Object.entries(result.output)) {
      if (value !== undefined) config[key as keyof typeof config] = value;
    }
    return c.json(config);
  });
  app.get("/faults", (c) => c.json(sandbox.faults));
  app.post("/faults", async (c) => {
    const result = v.safeParse(FaultsSchema, await jsonBody(c));
    if (!result.success) return invalidRequest(c, result.issues);
    sandbox.faults = result.output;
    if (result.output.seed !== undefined) sandbox.reseed(result.output.seed);
    return c.json(sandbox.faults);
  });
  return app;
}
