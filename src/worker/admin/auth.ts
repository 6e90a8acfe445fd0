/** Who may use the operator's routes: admin keys only. @module */
import type { Context, MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { auth as basicCredentials } from "hono/utils/basic-auth";
import type { AppEnv } from "../app-env.ts";
import { matchesAny } from "../keys.ts";

const unauthorized = { message: { error: "unauthorized" } };

/**
 * Operators only: `Authorization: Bearer <key>` with one of `ADMIN_KEYS` (ingest credentials are
 * not enough). Every failure is the same 401.
 *
 * @example
 * ```ts
 * app.use("/v1/admin/*", adminAuth());
 * ```
 */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return bearerAuth<AppEnv>({
    verifyToken: (token, c) => matchesAny(token, c.get("settings").adminKeys),
    noAuthenticationHeader: unauthorized,
    invalidAuthenticationHeader: unauthorized,
    invalidToken: unauthorized,
  });
}

/**
 * A short, stable name for the admin key of a request, for logs: a hash prefix, never the key.
 * The key is a bearer token (the JSON routes) or a Basic password (the operator's page).
 */
export async function keyFingerprint(c: Context<AppEnv>): Promise<string> {
  const key = basicCredentials(c.req.raw)?.password ??
    (c.req.header("Authorization") ?? "").replace(/^Bearer\s+/i, "");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return Array.from(digest.subarray(0, 6), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
