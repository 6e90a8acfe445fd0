/** Who may use the operator's routes: admin keys, or Cloudflare Access where it is configured. @module */
import type { Context, MiddlewareHandler } from "hono";
import { auth as basicCredentials } from "hono/utils/basic-auth";
import type { AppEnv, Caller } from "../app-env.ts";
import { authFailed, refusedAddress } from "../auth-failures.ts";
import { ACCESS_HEADER, verifyAccessToken } from "./access.ts";
import { matchingCredential } from "../keys.ts";
import { log } from "../log.ts";

/** The realm both schemes name in `WWW-Authenticate`. */
const REALM = "userpilot-bulk operators";

/** The operator behind a request, or why none is (the reason `auth_failed` logs, and the check that failed). */
async function callerOf(
  c: Context<AppEnv>,
  scheme: "Bearer" | "Basic",
): Promise<Caller | { refused: string; why?: string }> {
  const { adminKeys, access } = c.get("settings");
  const assertion = c.req.header(ACCESS_HEADER);
  if (access !== undefined && assertion !== undefined) {
    const verified = await verifyAccessToken(assertion, access);
    return verified.ok
      ? { name: verified.name, scopes: access.scopes }
      : { refused: "bad_access_token", why: verified.why };
  }
  const authorization = c.req.header("Authorization");
  const token = scheme === "Basic"
    ? basicCredentials(c.req.raw)?.password
    : /^ *Bearer +([\x21-\x7e]+) *$/i.exec(authorization ?? "")?.[1];
  const credential = token === undefined ? undefined : await matchingCredential(token, adminKeys);
  if (credential !== undefined) return { name: credential.name, scopes: credential.scopes };
  return { refused: authorization === undefined ? "missing" : "bad_admin_key" };
}

/**
 * Operators only: one of `ADMIN_KEYS` as `Authorization: Bearer <key>` (the JSON routes), or, for
 * the page (`scheme: "Basic"`), as the password of HTTP Basic auth (the browser's own prompt, any
 * user name). Where Cloudflare Access is configured, a `Cf-Access-Jwt-Assertion` token is taken
 * instead when present (named `access:<email>`, with `ACCESS_ADMIN_SCOPE`); an invalid one is
 * refused even beside a good key. Ingest credentials are not enough. Every failure, a malformed
 * header included, is the same 401 with a `WWW-Authenticate` challenge (429 from an address that
 * failed too often); the credential's name is kept for the request's log lines and audit entries.
 * (Hono's `bearerAuth` answers a malformed header 400.)
 *
 * @example
 * ```ts
 * app.use("/v1/admin/*", adminAuth());
 * ```
 */
export function adminAuth(options: { scheme?: "Bearer" | "Basic" } = {}): MiddlewareHandler<AppEnv> {
  const scheme = options.scheme ?? "Bearer";
  return async function adminAuthMiddleware(c, next) {
    const refusal = refusedAddress(c);
    if (refusal !== undefined) return refusal;
    const caller = await callerOf(c, scheme);
    if ("refused" in caller) {
      return await authFailed(c, caller.refused, () => {
        c.header("WWW-Authenticate", `${scheme} realm="${REALM}"`);
        return scheme === "Basic" ? c.text("Unauthorized", 401) : c.json({ error: "unauthorized" }, 401);
      }, { why: caller.why }); // an undefined `why` is left out of the log line
    }
    c.set("credential", { name: caller.name, scopes: caller.scopes });
    await next();
  };
}

/**
 * What only a full admin key may do (redrive, purge, forget): a read-only key gets a 403, as
 * `refuse` answers it (JSON by default; the page answers a page).
 *
 * @example
 * ```ts
 * app.post("/v1/admin/set-aside/purge", fullAdmin(), handler);
 * ```
 */
export function fullAdmin(
  refuse: (c: Context<AppEnv>, message: string) => Response | Promise<Response> = (c, message) =>
    c.json({ error: "forbidden", message }, 403),
): MiddlewareHandler<AppEnv> {
  return async function fullAdminMiddleware(c, next) {
    const caller = c.get("credential");
    if (caller?.scopes.includes("full")) return await next();
    log("warn", "scope_refused", { credential: caller?.name ?? null, scope: "full", path: c.req.path });
    return refuse(
      c,
      `the admin key ${caller?.name ?? ""} is read-only: redrive, purge and forget need a full key`,
    );
  };
}
