/**
 * A stand-in for a Cloudflare Access team's key endpoint, on 127.0.0.1: `GET
 * /cdn-cgi/access/certs` answers the keys a test made (`{ keys: [...] }`, as Access publishes
 * them) and counts the fetches. Tests in workerd, which cannot reach this process's memory, set
 * the keys with `PUT /cdn-cgi/access/certs`, read the count at `GET /__jwks/fetches`, and make
 * the keys unavailable (or available again) with `PUT /__jwks/status` and a status code. The team
 * domain to configure is its origin, which the settings accept only for loopback.
 */
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import type { AddressInfo } from "node:net";

export const CERTS_PATH = "/cdn-cgi/access/certs";

export interface JwksServer {
  /** `http://127.0.0.1:<port>`: the `ACCESS_TEAM_DOMAIN` (and the tokens' `iss`) to use. */
  readonly origin: string;
  /** Publish these public keys (JWKs with `kid`). */
  setKeys(keys: readonly (JsonWebKey & { kid: string })[]): void;
  /** How many times the keys were fetched. */
  fetches(): number;
  close(): Promise<void>;
}

/** Start a key endpoint on a free loopback port. */
export async function startJwksServer(): Promise<JwksServer> {
  let keys: readonly JsonWebKey[] = [];
  let fetches = 0;
  let status: 200 | 503 = 200;
  const app = new Hono()
    .get(CERTS_PATH, (c) => {
      fetches++;
      return status === 200 ? c.json({ keys }) : c.text("unavailable", status);
    })
    .put("/__jwks/status", async (c) => {
      status = (await c.req.json()) === 503 ? 503 : 200;
      return c.body(null, 204);
    })
    .put(CERTS_PATH, async (c) => {
      keys = ((await c.req.json()) as { keys: JsonWebKey[] }).keys;
      return c.body(null, 204);
    })
    .get("/__jwks/fetches", (c) => c.json({ fetches }));
  const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 });
  await new Promise((resolve) => server.once("listening", resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setKeys: (next) => {
      keys = next;
    },
    fetches: () => fetches,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
