import type { MiddlewareHandler } from "hono";
import { verifySignature, WEBHOOK_SIGNATURE_HEADER } from "../../core/signature.ts";
import type { AppEnv } from "../app-env.ts";
import { matchesAny } from "../keys.ts";
import { log } from "../log.ts";

/**
 * Who may call: `Authorization: Bearer <key>` (or Userpilot's own `Token <key>`) against
 * `INGEST_KEYS`, or a Standard Webhooks
 * signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`) against
 * `INGEST_SIGNING_SECRETS`, within ±300 s. A signed request's verified `webhook-id` is kept for
 * the write, which applies each id once (see `accept.ts`). Every failure gets the same 401; the
 * reason goes to the log only.
 *
 * @example
 * ```ts
 * app.post("/v1/identify", ingestAuth(), handler);
 * ```
 */
export function ingestAuth(): MiddlewareHandler<AppEnv> {
  return async function ingestAuthMiddleware(c, next) {
    const settings = c.get("settings");
    const authorization = c.req.header("Authorization") ?? "";
    let reason: string;
    // `Token` is Userpilot's own scheme, which existing integrations send: the same keys answer it.
    const keyed = /^(?:bearer|token) +(.+)$/i.exec(authorization);
    if (keyed !== null) {
      if (settings.ingestKeys.length > 0 && (await matchesAny(keyed[1]!.trim(), settings.ingestKeys))) {
        return next();
      }
      reason = "bad_key";
    } else if (c.req.header(WEBHOOK_SIGNATURE_HEADER) !== undefined && settings.signingSecrets.length > 0) {
      const body = new Uint8Array(await c.req.arrayBuffer());
      const result = await verifySignature(settings.signingSecrets, body, c.req.raw.headers);
      if (result.valid) {
        c.set("webhookId", result.id);
        return next();
      }
      reason = `signature_${result.reason}`;
    } else {
      reason = "missing";
    }
    log("warn", "auth_failed", { reason, path: c.req.path, ray: c.req.header("cf-ray") ?? null });
    return c.json({ error: "unauthorized" }, 401);
  };
}
