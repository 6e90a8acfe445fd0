import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import type { Context, MiddlewareHandler } from "hono";
import { adminAuth, adminRoutes } from "./admin.ts";
import { adminPage } from "./admin-page.tsx";
import type { BulkKind } from "../core/build-requests.ts";
import type { AppEnv } from "./app-env.ts";
import { ingestAuth } from "./auth.ts";
import type { Env } from "./env.ts";
import { ingestBulk, type Ingested, ingestIdentify } from "./ingest.ts";
import { log } from "./log.ts";
import { acceptanceStamp, sendChunks } from "./messages.ts";
import { openApiDocument } from "./openapi.ts";
import { ADMIN_PAGE_ROUTES } from "./page-routes.ts";
import { releaseSignature } from "./replay-guard.ts";
import { deliveryStub, readSettings, type SettingsResult } from "./settings.ts";

const settingsCache = new WeakMap<Env, SettingsResult>();
function settingsOf(env: Env): SettingsResult {
  let result = settingsCache.get(env);
  if (result === undefined) {
    result = readSettings(env);
    settingsCache.set(env, result);
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

/** Read the body as JSON: 415 for another content type, 400 for bytes that are not UTF-8 JSON. */
async function readJson(
  c: Context<AppEnv>,
): Promise<{ ok: true; value: unknown } | { ok: false; response: Response }> {
  const type = (c.req.header("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") {
    return {
      ok: false,
      response: c.json(
        { error: "unsupported_media_type", message: "send Content-Type: application/json" },
        415,
      ),
    };
  }
  try {
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(
      await c.req.arrayBuffer(),
    );
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return {
      ok: false,
      response: c.json({ error: "invalid_json", message: "the body is not valid UTF-8 JSON" }, 400),
    };
  }
}

/** Queue what was accepted and answer 202, or refuse with the issues; nothing of a refused request is queued. */
async function accept(c: Context<AppEnv>, ingested: Ingested): Promise<Response> {
  if (!ingested.ok) return c.json({ error: ingested.error, issues: ingested.issues }, ingested.status);
  const receivedAt = acceptanceStamp();
  try {
    for (const { kind, chunks } of ingested.chunks) {
      await sendChunks(c.env.INGEST_QUEUE, kind, chunks, receivedAt);
    }
  } catch (error) {
    log("error", "queue_send_failed", { message: (error as Error).message });
    const signature = c.get("signature");
    if (signature !== undefined) await releaseSignature(c.env.REPLAY_GUARD, signature);
    c.header("Retry-After", "1");
    return c.json({ error: "queue_unavailable", message: "rows were not queued; retry" }, 503);
  }
  return c.json({ accepted: ingested.accepted }, 202);
}

function bulkRoute(kind: BulkKind) {
  return async (c: Context<AppEnv>) => {
    const body = await readJson(c);
    return body.ok ? accept(c, ingestBulk(kind, body.value)) : body.response;
  };
}

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
  const write = ingestAuth();
  const admin = adminAuth();
  return new Hono<AppEnv>()
    .onError((error, c) => {
      if (error instanceof HTTPException) return error.getResponse();
      log("error", "unhandled", { message: error.message, path: c.req.path });
      return c.json({ error: "internal_error" }, 500);
    })
    .notFound((c) => c.json({ error: "not_found" }, 404))
    .get("/health", (c) => {
      const read = settingsOf(c.env);
      if (!read.ok) return c.json({ status: "misconfigured", problems: read.problems }, 503);
      return c.json(read.warnings.length > 0 ? { status: "ok", warnings: read.warnings } : { status: "ok" });
    })
    .get("/openapi.json", (c) => c.json(openApiDocument()))
    .use("/v1/*", configured)
    .use("/v1/*", (c, next) => {
      const allowed = c.get("settings").allowedOrigins;
      return cors({
        origin: (origin) => (allowed.includes(origin) ? origin : null),
        allowMethods: ["GET", "POST", "OPTIONS"],
        allowHeaders: ["Authorization", "Content-Type", "X-Signature", "X-Signature-Timestamp"],
        maxAge: 600,
      })(c, next);
    })
    .use("/v1/*", limited)
    .post("/v1/users/bulk_identify", write, bulkRoute("users"))
    .post("/v1/companies/bulk_identify", write, bulkRoute("companies"))
    .post("/v1/identify", write, async (c) => {
      const body = await readJson(c);
      return body.ok ? accept(c, ingestIdentify(body.value)) : body.response;
    })
    .get("/v1/status", admin, async (c) => c.json(await deliveryStub(c.env).status()))
    .use("/v1/admin/*", admin)
    .route("/v1/admin", adminRoutes())
    .use(`${ADMIN_PAGE_ROUTES.page}/*`, configured, limited) // "/admin/*" matches "/admin" too
    .route(ADMIN_PAGE_ROUTES.page, adminPage());
}

/** The app's type, for Hono's typed `hc` client. */
export type AppType = ReturnType<typeof createApp>;
