import type { MiddlewareHandler } from "hono";
import { verifySignature, WEBHOOK_SIGNATURE_HEADER } from "../../core/signature.ts";
import type { AppEnv } from "../app-env.ts";
import type { Credential, IngestScope } from "../credentials.ts";
import { matchingCredential } from "../keys.ts";
import { log } from "../log.ts";

/**
 * The signing secret whose signature the request carries: each secret is tried (one HMAC each),
 * until one verifies; a failure that is not a mismatch (missing, malformed, expired) is the same
 * for every secret.
 */
async function signedBy(
  secrets: readonly Credential<IngestScope>[],
  body: Uint8Array,
  headers: Headers,
): Promise<{ credential: Credential<IngestScope>; id: string } | { reason: string }> {
  let reason = "missing";
  for (const credential of secrets) {
    const result = await verifySignature(credential.secret, body, headers);
    if (result.valid) return { credential, id: result.id };
    reason = result.reason;
    if (reason !== "mismatch") break;
  }
  return { reason: `signature_${reason}` };
}

/**
 * Who may call: `Authorization: Bearer <key>` (or Userpilot's own `Token <key>`) against
 * `INGEST_KEYS`, or a Standard Webhooks
 * signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`) against
 * `INGEST_SIGNING_SECRETS`, within ±300 s. The credential's name is kept for the request (its
 * request ids and audit entries are its own), and so is a signed request's verified `webhook-id`,
 * which the write applies once (see `accept.ts`). Every failure gets the same 401; the reason goes
 * to the log only.
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
      const credential = await matchingCredential(keyed[1]!.trim(), settings.ingestKeys);
      if (credential !== undefined) {
        c.set("credential", { name: credential.name, scopes: credential.scopes });
        return next();
      }
      reason = "bad_key";
    } else if (c.req.header(WEBHOOK_SIGNATURE_HEADER) !== undefined && settings.signingSecrets.length > 0) {
      const body = new Uint8Array(await c.req.arrayBuffer());
      const signed = await signedBy(settings.signingSecrets, body, c.req.raw.headers);
      if ("credential" in signed) {
        c.set("credential", { name: signed.credential.name, scopes: signed.credential.scopes });
        c.set("webhookId", signed.id);
        return next();
      }
      reason = signed.reason;
    } else {
      reason = "missing";
    }
    log("warn", "auth_failed", { reason, path: c.req.path, ray: c.req.header("cf-ray") ?? null });
    return c.json({ error: "unauthorized" }, 401);
  };
}
