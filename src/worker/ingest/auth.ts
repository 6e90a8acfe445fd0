import type { Context, MiddlewareHandler, Next } from "hono";
import { verifySignature, WEBHOOK_SIGNATURE_HEADER } from "../../core/signature.ts";
import type { AppEnv, Caller } from "../app-env.ts";
import { authFailed, refusedAddress } from "../auth-failures.ts";
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
 * which the write applies once (see `accept.ts`). Every failure gets the same 401 (or, from an
 * address that failed too often, 429: `auth-failures.ts`); the reason goes to the log only. A credential without the route's `scope` gets a 403 that says which scope it
 * lacks (it knows who it is by then), before the body is read.
 *
 * @example
 * ```ts
 * app.delete("/v1/users", ingestAuth("delete"), handler);
 * ```
 */
export function ingestAuth(scope?: IngestScope): MiddlewareHandler<AppEnv> {
  const allowed = (c: Context<AppEnv>, caller: Caller, next: Next) => {
    c.set("credential", caller);
    if (scope === undefined || caller.scopes.includes(scope)) return next();
    log("warn", "scope_refused", { credential: caller.name, scope, path: c.req.path });
    return c.json({
      error: "forbidden",
      message: `the credential ${caller.name} may not ${scope}: give it the ${scope} scope in the settings`,
    }, 403);
  };
  return async function ingestAuthMiddleware(c, next) {
    const refusal = refusedAddress(c);
    if (refusal !== undefined) return refusal;
    const settings = c.get("settings");
    const authorization = c.req.header("Authorization") ?? "";
    let reason: string;
    // `Token` is Userpilot's own scheme, which existing integrations send: the same keys answer it.
    const keyed = /^(?:bearer|token) +(.+)$/i.exec(authorization);
    if (keyed !== null) {
      const credential = await matchingCredential(keyed[1]!.trim(), settings.ingestKeys);
      if (credential !== undefined) {
        return allowed(c, { name: credential.name, scopes: credential.scopes }, next);
      }
      reason = "bad_key";
    } else if (c.req.header(WEBHOOK_SIGNATURE_HEADER) !== undefined && settings.signingSecrets.length > 0) {
      const body = new Uint8Array(await c.req.arrayBuffer());
      const signed = await signedBy(settings.signingSecrets, body, c.req.raw.headers);
      if ("credential" in signed) {
        c.set("webhookId", signed.id);
        return allowed(c, { name: signed.credential.name, scopes: signed.credential.scopes }, next);
      }
      reason = signed.reason;
    } else {
      reason = "missing";
    }
    return await authFailed(c, reason, () => c.json({ error: "unauthorized" }, 401));
  };
}
