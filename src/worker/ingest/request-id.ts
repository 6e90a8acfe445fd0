/** The id a write is applied once under, read before anything else of the request. @module */
import type { Context, MiddlewareHandler } from "hono";
import { IDEMPOTENCY_KEY_HEADER, isRequestId } from "../../core/request-id.ts";
import type { AppEnv } from "../app-env.ts";

/**
 * The id a write is applied once under: a signed request's verified `webhook-id`, or a bearer
 * caller's `Idempotency-Key` (optional; without one every request is a new write). Ids are scoped
 * by credential kind and name (a name holds no `:`), so one caller can neither claim nor probe
 * another's ids; the keys of one name (a rotation) share theirs. A malformed `Idempotency-Key` is
 * a 400, before the body is read.
 */
export function requestIdOf(
  c: Context<AppEnv>,
): { ok: true; id: string | undefined } | { ok: false; response: Response } {
  const caller = c.get("credential")?.name ?? "";
  const signed = c.get("webhookId");
  if (signed !== undefined) return { ok: true, id: `signed:${caller}:${signed}` };
  const key = c.req.header(IDEMPOTENCY_KEY_HEADER);
  if (key === undefined) return { ok: true, id: undefined };
  if (isRequestId(key)) return { ok: true, id: `bearer:${caller}:${key}` };
  return {
    ok: false,
    response: c.json({
      error: "invalid_request",
      issues: [{ path: IDEMPOTENCY_KEY_HEADER, message: "must be 1 to 255 visible ASCII characters" }],
      issueCount: 1,
    }, 400),
  };
}

/**
 * Read the write's request id into `c.var.requestId` (see {@link requestIdOf}); a malformed
 * `Idempotency-Key` is a 400, before the body is read.
 *
 * @example
 * ```ts
 * app.post("/v1/identify", ingestAuth(), requestId(), jsonBody(IdentifyBody), handler);
 * ```
 */
export function requestId(): MiddlewareHandler<AppEnv> {
  return async function requestIdMiddleware(c, next) {
    const id = requestIdOf(c);
    if (!id.ok) return id.response;
    c.set("requestId", id.id);
    await next();
  };
}
