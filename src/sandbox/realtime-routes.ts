import { Hono } from "hono";
import type { Context } from "hono";
import { checkRow, type ContractRow } from "./contract.ts";
import { fail, type SandboxContext } from "./context.ts";

/** Userpilot's real-time API version, required on real-time and delete calls. */
export const REALTIME_API_VERSION = "2020-09-22";

/** The body as JSON, or `undefined` when it is not. */
export async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    return undefined;
  }
}

/** `X-API-Version` must be the documented one (real-time and delete calls). */
export function apiVersionProblem(c: Context): Response | undefined {
  return c.req.header("X-API-Version") === REALTIME_API_VERSION
    ? undefined
    : fail(c, 400, "invalid_api_version", `X-API-Version: ${REALTIME_API_VERSION} is required`);
}

/**
 * Userpilot's real-time routes, applied at once: `POST /v1/identify`, `POST /v1/companies/identify`,
 * `POST /v1/track` (events of users it does not know are recorded as unknown: Userpilot ignores
 * them), and `GET /v1/users` (integrations' credential check). Identify and track share the limit
 * of `realtimeLimit` calls per token in any `realtimeWindowMs` (600 a minute), then 429 with
 * `Retry-After`.
 */
export function realtimeRoutes(sandbox: SandboxContext): Hono {
  const { state, config, now } = sandbox;
  const app = new Hono();

  function gate(c: Context): Response | undefined {
    const wrongVersion = apiVersionProblem(c);
    if (wrongVersion) return wrongVersion;
    const token = c.req.header("Authorization") ?? "";
    const at = now();
    const recent = (state.realtimeCalls.get(token) ?? []).filter((t) => t > at - config.realtimeWindowMs);
    if (recent.length >= config.realtimeLimit) {
      c.header(
        "Retry-After",
        String(Math.max(1, Math.ceil((recent[0]! + config.realtimeWindowMs - at) / 1000))),
      );
      state.realtimeCalls.set(token, recent);
      return fail(c, 429, "rate_limited", "Too many requests");
    }
    recent.push(at);
    state.realtimeCalls.set(token, recent);
    state.stats.realtime.peakPerWindow = Math.max(state.stats.realtime.peakPerWindow, recent.length);
    return undefined;
  }

  app.post("/v1/identify", async (c) => {
    const refused = gate(c);
    if (refused) return refused;
    const body = await jsonBody(c);
    const company = body !== null && typeof body === "object"
      ? (body as Record<string, unknown>)["company"]
      : undefined;
    const { company: _, ...userPart } = (body ?? {}) as Record<string, unknown>;
    const companyId = company !== null && typeof company === "object"
      ? (company as Record<string, unknown>)["id"]
      : undefined;
    const user = checkRow(
      companyId === undefined ? userPart : { ...userPart, company_id: companyId },
      "user_id",
      "body",
    );
    if (typeof user === "string") return fail(c, 400, "validation_error", user);
    let companyRow: ContractRow | undefined;
    if (companyId !== undefined) {
      const { id: __, ...metadata } = company as Record<string, unknown>;
      const checked = checkRow({ company_id: companyId, metadata }, "company_id", "body.company");
      if (typeof checked === "string") return fail(c, 400, "validation_error", checked);
      companyRow = checked;
    }
    state.mergeProfile(state.users, user);
    if (companyRow !== undefined) state.mergeProfile(state.companies, companyRow);
    state.stats.realtime.identify++;
    return c.json({ status: "accepted" }, 202);
  });

  app.post("/v1/companies/identify", async (c) => {
    const refused = gate(c);
    if (refused) return refused;
    const row = checkRow(await jsonBody(c), "company_id", "body");
    if (typeof row === "string") return fail(c, 400, "validation_error", row);
    state.mergeProfile(state.companies, row);
    state.stats.realtime.companies++;
    return c.json({ status: "accepted" }, 202);
  });

  app.post("/v1/track", async (c) => {
    const refused = gate(c);
    if (refused) return refused;
    const body = await jsonBody(c);
    const record = (body ?? {}) as Record<string, unknown>;
    const userId = record["user_id"];
    const eventName = record["event_name"];
    if (typeof userId !== "string" || userId === "" || typeof eventName !== "string" || eventName === "") {
      return fail(c, 400, "validation_error", "user_id and event_name are required");
    }
    if (sandbox.faults.refuseIds.includes(userId)) {
      // Like a real API's message, it quotes what it refused: a client must never show it as is.
      const quoted = JSON.stringify(record["metadata"] ?? {});
      return fail(c, 400, "invalid_event", `An event was refused (injected by the sandbox): ${quoted}`);
    }
    // The metadata rules are the identify's (flat, primitives only); the id is only a carrier.
    const checked = checkRow({ user_id: userId, metadata: record["metadata"] }, "user_id", "body");
    if (typeof checked === "string") return fail(c, 400, "validation_error", checked);
    state.events.push({
      user_id: userId,
      event_name: eventName,
      metadata: Object.fromEntries(checked.metadata),
      at: now(),
      known: state.users.has(userId),
    });
    state.stats.realtime.track++;
    return c.json({ status: "accepted" }, 202);
  });

  app.get("/v1/users", (c) => c.json({}));

  return app;
}
