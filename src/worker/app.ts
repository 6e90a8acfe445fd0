import { Hono } from "./hono.ts";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import type { Context, MiddlewareHandler } from "hono";
import { IDEMPOTENCY_KEY_HEADER } from "../core/request-id.ts";
import { WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER } from "../core/signature.ts";
import { describeFailure } from "../core/errors.ts";
import {
  ADMIN_PAGE_ROUTES,
  adminAuth,
  adminPage,
  adminRoutes,
  OPENMETRICS_CONTENT_TYPE,
  renderMetrics,
} from "./admin/index.ts";
import type { AppEnv } from "./app-env.ts";
import { deliveryStub } from "./delivery/index.ts";
import type { Env } from "./env.ts";
import {
  type Accepted,
  acceptOnce,
  BulkCompaniesBody,
  BulkUsersBody,
  CompanyIdentifyBody,
  DeleteCompaniesBody,
  DeleteUsersBody,
  IdentifyBody,
  ingestAuth,
  OPENAPI_DOCUMENT,
  requestId,
  TrackBody,
  USERPILOT_COMPATIBLE_PATHS,
  userpilotErrors,
} from "./ingest/index.ts";
import { authFailed, refusedAddress } from "./auth-failures.ts";
import { usableAdminKeys } from "./credentials.ts";
import { jsonBody } from "./json-body.ts";
import { matchingCredential } from "./keys.ts";
import { log } from "./log.ts";
import { readSettings, type SettingsResult } from "./settings.ts";

const settingsCache = new WeakMap<Env, SettingsResult>();
function settingsOf(env: Env): SettingsResult {
  let result = settingsCache.get(env);
  if (result === undefined) {
    result = readSettings(env);
    settingsCache.set(env, result);
    // /health shows warnings to admin keys only: the logs have them for everyone who runs it.
    if (result.ok && result.warnings.length > 0) {
      log("warn", "settings_warnings", { warnings: result.warnings });
    }
  }
  return result;
}

/** Every route below needs usable settings: 503 naming none of them (`/health` does) otherwise. */
const configured: MiddlewareHandler<AppEnv> = async (c, next) => {
  const read = settingsOf(c.env);
  if (!read.ok) {
    log("error", "misconfigured", { problems: read.problems });
    return c.json(
      { error: "misconfigured", message: "the endpoint is not configured; see GET /health" },
      503,
    );
  }
  c.set("settings", read.settings);
  await next();
};

/** Bodies over `MAX_BODY_BYTES` are refused before anything reads them. */
const limited: MiddlewareHandler<AppEnv> = (c, next) =>
  bodyLimit({
    maxSize: c.get("settings").maxBodyBytes,
    onError: (c) => c.json({ error: "payload_too_large", message: "the body is over the size limit" }, 413),
  })(c, next);

/** Queue an accepted body once per request id (`accept.ts`): 202, or why not. */
const accept = (c: Context<AppEnv>, accepted: Accepted) => acceptOnce(c, accepted, c.get("requestId"));

/**
 * The ingestion app: authenticated, size-limited, validated writes that are queued durably and
 * answered 202; Userpilot is never called on the request path.
 *
 * @example
 * ```ts
 * export default { fetch: createApp().fetch };
 * ```
 */
// The return type is inferred on purpose: it carries every route, for Hono's typed client.
export function createApp() {
  // Each write: the caller's credential and its scope for the route, then its request id (a
  // malformed one is refused before the body is read), then its body checked by the route's one schema.
  const identify = ingestAuth("identify");
  const track = ingestAuth("track");
  const remove = ingestAuth("delete");
  const id = requestId();
  const admin = adminAuth();
  const shape = userpilotErrors();
  // Userpilot's error body on the routes its integrations call, whatever refuses the request.
  const userpilotShape: MiddlewareHandler<AppEnv> = (c, next) =>
    USERPILOT_COMPATIBLE_PATHS.includes(c.req.path) ? shape(c, next) : next();
  const corsPolicy = cors({
    origin: (
      origin,
      c: Context<AppEnv>,
    ) => (c.get("settings").allowedOrigins.includes(origin) ? origin : null),
    allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
    allowHeaders: [
      "Authorization",
      "Content-Type",
      IDEMPOTENCY_KEY_HEADER,
      WEBHOOK_ID_HEADER,
      WEBHOOK_TIMESTAMP_HEADER,
      WEBHOOK_SIGNATURE_HEADER,
    ],
    exposeHeaders: ["Retry-After", "Idempotent-Replayed"],
    maxAge: 600,
  });
  return new Hono<AppEnv>()
    .onError((error, c) => {
      if (error instanceof HTTPException) return error.getResponse();
      log("error", "unhandled", { message: describeFailure(error), path: c.req.path });
      return c.json({ error: "internal_error" }, 500);
    })
    .notFound((c) => c.json({ error: "not_found" }, 404))
    .get("/openapi.json", (c) => c.json(OPENAPI_DOCUMENT))
    // Nothing else may be kept by a cache on the way: rows set aside, exports, status, the page.
    .use(async (c, next) => {
      await next();
      c.header("Cache-Control", "no-store");
    })
    .get("/health", async (c) => {
      const read = settingsOf(c.env);
      // Which settings are wrong (never their values) is for operators: the admin key's holder,
      // whatever else is broken. Everyone else learns only whether the endpoint is usable.
      const plain = () => (read.ok ? c.json({ status: "ok" }) : c.json({ status: "misconfigured" }, 503));
      const authorization = c.req.header("Authorization");
      if (authorization === undefined) return plain();
      const refusal = refusedAddress(c);
      if (refusal !== undefined) return refusal;
      const token = /^ *Bearer +(\S+) *$/i.exec(authorization)?.[1];
      const operator = token !== undefined &&
        (await matchingCredential(token, usableAdminKeys(c.env))) !== undefined;
      if (!operator) return await authFailed(c, "bad_admin_key", plain);
      if (!read.ok) return c.json({ status: "misconfigured", problems: read.problems }, 503);
      return c.json(read.warnings.length > 0 ? { status: "ok", warnings: read.warnings } : { status: "ok" });
    })
    .use(userpilotShape)
    .use("/v1/*", configured)
    .use("/v1/*", corsPolicy)
    .use("/v1/*", limited)
    // Queued once per request id (`ingest/accept.ts`); a refused body queues nothing.
    .post(
      "/v1/users/bulk_identify",
      identify,
      id,
      jsonBody(BulkUsersBody),
      (c) => accept(c, c.req.valid("json")),
    )
    .post(
      "/v1/companies/bulk_identify",
      identify,
      id,
      jsonBody(BulkCompaniesBody),
      (c) => accept(c, c.req.valid("json")),
    )
    .post("/v1/identify", identify, id, jsonBody(IdentifyBody), (c) => accept(c, c.req.valid("json")))
    .post(
      "/v1/companies/identify",
      identify,
      id,
      jsonBody(CompanyIdentifyBody),
      (c) => accept(c, c.req.valid("json")),
    )
    .post("/v1/track", track, id, jsonBody(TrackBody), (c) => accept(c, c.req.valid("json")))
    .delete("/v1/users", remove, id, jsonBody(DeleteUsersBody), (c) => accept(c, c.req.valid("json")))
    .delete("/v1/companies", remove, id, jsonBody(DeleteCompaniesBody), (c) => accept(c, c.req.valid("json")))
    // Integrations check a key before saving it: any valid ingest credential answers 200, with no data.
    .get("/v1/users", ingestAuth(), (c) => c.json({}))
    .get("/v1/validate", ingestAuth(), (c) => c.json({}))
    .get("/v1/status", admin, async (c) => c.json(await deliveryStub(c.env).status()))
    // Outside /v1, where scrapers look; one status read, so every number is of one moment.
    .get(
      "/metrics",
      configured,
      admin,
      async (c) =>
        c.body(renderMetrics(await deliveryStub(c.env).status(), Date.now()), 200, {
          "Content-Type": OPENMETRICS_CONTENT_TYPE,
        }),
    )
    .use("/v1/admin/*", admin)
    .route("/v1/admin", adminRoutes())
    .use(`${ADMIN_PAGE_ROUTES.page}/*`, configured, limited) // "/admin/*" matches "/admin" too
    .route(ADMIN_PAGE_ROUTES.page, adminPage());
}

/** The app's type, for Hono's typed `hc` client. */
export type AppType = ReturnType<typeof createApp>;
