import { Hono } from "hono";
import type { Context } from "hono";
import { fail, type SandboxContext } from "./context.ts";
import { apiVersionProblem, jsonBody } from "./realtime-routes.ts";

/**
 * Userpilot's right-to-be-forgotten routes: `DELETE /v1/users {"users": [ids]}` and
 * `DELETE /v1/companies {"companies": [ids]}`, with `X-API-Version`. They answer 202 and schedule
 * the ids for the daily deletion job (run it with `POST /__sandbox/run-deletions`). One request per
 * token every `deleteIntervalMs` (2 seconds); faster gets 429 with `Retry-After`.
 */
export function deleteRoutes(sandbox: SandboxContext): Hono {
  const { state, config, now } = sandbox;
  const app = new Hono();

  for (const kind of ["users", "companies"] as const) {
    app.delete(`/v1/${kind}`, async (c: Context) => {
      const wrongVersion = apiVersionProblem(c);
      if (wrongVersion) return wrongVersion;
      const token = c.req.header("Authorization") ?? "";
      const at = now();
      const last = state.lastDelete.get(token);
      if (last !== undefined && at - last < config.deleteIntervalMs) {
        c.header("Retry-After", String(Math.max(1, Math.ceil((last + config.deleteIntervalMs - at) / 1000))));
        return fail(c, 429, "rate_limited", "One delete request every 2 seconds");
      }
      const body = await jsonBody(c);
      const ids = body !== null && typeof body === "object"
        ? (body as Record<string, unknown>)[kind]
        : undefined;
      if (
        !Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === "string" && id !== "")
      ) {
        return fail(c, 400, "validation_error", `Body must be {"${kind}": ["<id>", ...]}`);
      }
      const refused = (ids as string[]).filter((id) => sandbox.faults.refuseIds.includes(id));
      if (refused.length > 0) {
        // Like a real API's message, it quotes what it refused: a client must never show it as is.
        return fail(
          c,
          400,
          "invalid_id",
          `An id was refused (injected by the sandbox): ${refused.join(", ")}`,
        );
      }
      state.lastDelete.set(token, at);
      state.deletions.push({ kind, ids: ids as string[], at, ran: false });
      state.stats.realtime.deletes++;
      return c.json({ message: `${ids.length} ${kind} scheduled for deletion` }, 202);
    });
  }
  return app;
}
