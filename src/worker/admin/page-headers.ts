/** The operator's page's security headers. @module */
import type { MiddlewareHandler } from "hono";
import { encodeBase64 } from "hono/utils/encode";
import type { AppEnv } from "../app-env.ts";

// hono/secure-headers' defaults, as it sends them; X-Frame-Options denies outright.
const HEADERS: readonly [string, string][] = [
  ["Cross-Origin-Resource-Policy", "same-origin"],
  ["Cross-Origin-Opener-Policy", "same-origin"],
  ["Origin-Agent-Cluster", "?1"],
  ["Referrer-Policy", "no-referrer"],
  ["Strict-Transport-Security", "max-age=15552000; includeSubDomains"],
  ["X-Content-Type-Options", "nosniff"],
  ["X-DNS-Prefetch-Control", "off"],
  ["X-Download-Options", "noopen"],
  ["X-Frame-Options", "DENY"],
  ["X-Permitted-Cross-Domain-Policies", "none"],
  ["X-XSS-Protection", "0"],
];

/**
 * The page's headers: a Content-Security-Policy of `default-src 'none'` that allows only the
 * page's own inline script and style, by a fresh nonce per response (`c.var.nonce`), no other
 * resource, form target or framing; and the other headers `hono/secure-headers` sends by default.
 * Written here rather than with `hono/secure-headers` for size: it saves about 1 KB of the
 * Worker's 60 KB gzipped.
 *
 * @example
 * ```ts
 * app.use(pageHeaders());
 * ```
 */
export function pageHeaders(): MiddlewareHandler<AppEnv> {
  return async function pageHeadersMiddleware(c, next) {
    const nonce = encodeBase64(crypto.getRandomValues(new Uint8Array(16)).buffer);
    c.set("nonce", nonce);
    await next();
    c.header(
      "Content-Security-Policy",
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    );
    for (const [name, value] of HEADERS) c.header(name, value);
  };
}
