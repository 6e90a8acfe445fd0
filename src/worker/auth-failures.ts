/**
 * Failed authentications, limited per client address: each failure is counted by the Workers Rate
 * Limiting binding `AUTH_LIMITER` (wrangler.toml: 20 a minute); once an address is over, every
 * request of it that presents a credential is refused with 429 and `Retry-After` for the period,
 * before its credential is checked, so it learns nothing more. Shared by the ingest and admin rooms.
 * @module
 */
import type { Context } from "hono";
import type { AppEnv } from "./app-env.ts";
import { log } from "./log.ts";
import { AUTH_FAILURE_PERIOD_SECONDS } from "./settings.ts";

/** Addresses refused, until when (ms), in this isolate; the binding's count is shared by all. */
const refused = new Map<string, number>();
/** At most this many addresses are remembered here (the oldest go first). */
const REMEMBERED = 10_000;

/** The caller's address as Cloudflare saw it; absent for a service binding's call (or a test's). */
const addressOf = (c: Context<AppEnv>): string | undefined => c.req.header("CF-Connecting-IP");

function tooMany(c: Context<AppEnv>, until: number): Response {
  c.header("Retry-After", String(Math.max(1, Math.ceil((until - Date.now()) / 1000))));
  return c.json({ error: "too_many_failures", message: "too many failed authentications; retry later" }, 429);
}

/**
 * The 429 for a caller whose address failed to authenticate too often lately, or `undefined`.
 * Call before checking its credential.
 *
 * @example
 * ```ts
 * const refusal = refusedAddress(c);
 * if (refusal !== undefined) return refusal;
 * ```
 */
export function refusedAddress(c: Context<AppEnv>): Response | undefined {
  const address = addressOf(c);
  const until = address === undefined ? undefined : refused.get(address);
  if (until === undefined) return undefined;
  if (until > Date.now()) return tooMany(c, until);
  refused.delete(address!);
  return undefined;
}

/**
 * A failed authentication: logged with its reason (and `fields`, never what was presented),
 * counted for the caller's address, and answered with `unauthorized()`, or 429 once the address
 * is over the limit.
 *
 * @example
 * ```ts
 * return await authFailed(c, "bad_key", () => c.json({ error: "unauthorized" }, 401));
 * ```
 */
export async function authFailed(
  c: Context<AppEnv>,
  reason: string,
  unauthorized: () => Response,
  fields: Record<string, unknown> = {},
): Promise<Response> {
  log("warn", "auth_failed", { reason, ...fields, path: c.req.path, ray: c.req.header("cf-ray") ?? null });
  const address = addressOf(c);
  const limiter = c.env.AUTH_LIMITER;
  if (address === undefined || limiter === undefined || (await limiter.limit({ key: address })).success) {
    return unauthorized();
  }
  const until = Date.now() + AUTH_FAILURE_PERIOD_SECONDS * 1000;
  if (refused.size >= REMEMBERED) refused.delete(refused.keys().next().value!);
  refused.set(address, until);
  log("warn", "auth_limited", { path: c.req.path, ray: c.req.header("cf-ray") ?? null });
  return tooMany(c, until);
}
