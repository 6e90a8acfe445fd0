/**
 * Cloudflare Access tokens (`Cf-Access-Jwt-Assertion`), verified with Hono's own JWT helpers
 * against the team's published keys: RS256 only, the team as issuer, the application's AUD tag
 * in the audience, an expiry that has not passed and a not-before that has.
 * @module
 */
import type { HonoJsonWebKey } from "hono/utils/jwt/jws";
import { decodeHeader, verify } from "hono/utils/jwt/jwt";
import { describeFailure } from "../../core/errors.ts";
import type { AccessSettings } from "../access-settings.ts";
import { log } from "../log.ts";

/** The header Access adds to every request it lets through to the Worker. */
export const ACCESS_HEADER = "Cf-Access-Jwt-Assertion";

/** Keys are fetched again at least this often, so a key Access withdrew stops being trusted. */
const KEYS_MAX_AGE_MS = 3_600_000;
/** An unknown `kid` fetches the keys again at most this often: made-up ids cannot flood the team. */
const REFETCH_AFTER_MS = 30_000;
/** Longest wait for the team's keys: every Access request of the isolate waits on the one fetch. */
const KEYS_TIMEOUT_MS = 5_000;

interface CachedKeys {
  readonly keys: Promise<HonoJsonWebKey[]>;
  readonly fetchedAt: number;
}

/** The team's keys, per isolate and per certs URL (one fetch serves every request that follows). */
const cache = new Map<string, CachedKeys>();

/** The keys published at `url`, or `previous` (logged) when they cannot be had. */
async function fetchKeys(url: string, previous: HonoJsonWebKey[]): Promise<HonoJsonWebKey[]> {
  let problem: string;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(KEYS_TIMEOUT_MS) });
    const body = response.ok ? await response.json<{ keys?: unknown }>() : undefined;
    if (Array.isArray(body?.keys)) return body.keys;
    problem = response.ok ? "no keys in the answer" : `answered ${response.status}`;
  } catch (error) {
    problem = describeFailure(error);
  }
  log("error", "access_keys_unavailable", { url, problem });
  return previous;
}

/** The team's keys, fetched again when stale or when `kid` is not among them (at most every 30 s). */
async function keysFor(url: string, kid: string | undefined): Promise<HonoJsonWebKey[]> {
  const now = Date.now();
  const cached = cache.get(url);
  const age = cached === undefined ? Infinity : now - cached.fetchedAt;
  const held = cached === undefined ? [] : await cached.keys;
  if (age < KEYS_MAX_AGE_MS && (age < REFETCH_AFTER_MS || held.some((key) => key.kid === kid))) return held;
  const keys = fetchKeys(url, held);
  cache.set(url, { keys, fetchedAt: now });
  return await keys;
}

/** A verified Access token's identity, or why it was refused (for the log, never the caller). */
export type AccessResult = { ok: true; name: string } | { ok: false; why: string };

/**
 * Verify an Access token for `access`: its name is `access:<email>` (a service token's
 * `access:<common_name>`). Any failure is `{ ok: false }` with the check that failed.
 *
 * @example
 * ```ts
 * const result = await verifyAccessToken(c.req.header(ACCESS_HEADER)!, settings.access);
 * if (result.ok) c.set("credential", { name: result.name, scopes: settings.access.scopes });
 * ```
 */
export async function verifyAccessToken(token: string, access: AccessSettings): Promise<AccessResult> {
  try {
    const { kid } = decodeHeader(token);
    const keys = await keysFor(`${access.issuer}/cdn-cgi/access/certs`, kid);
    const key = keys.find((candidate) => candidate.kid === kid);
    if (kid === undefined || key === undefined) return { ok: false, why: "unknown_key" };
    // RS256 only: a token naming another algorithm (HS256 with the public key as secret, `none`) is refused.
    const payload = await verify(token, key, { alg: "RS256", iss: access.issuer, aud: access.audience });
    // Hono checks `exp` only when there is one: Access always sets it, so a token without is forged.
    if (typeof payload.exp !== "number") return { ok: false, why: "no_expiry" };
    const who = payload["email"] || payload["common_name"];
    if (typeof who !== "string") return { ok: false, why: "no_identity" };
    return { ok: true, name: `access:${who}` };
  } catch (error) {
    // Hono's JWT errors name the check (JwtTokenExpired, JwtTokenAudience...); their messages may quote the token.
    return { ok: false, why: error instanceof Error ? error.name : "invalid" };
  }
}
