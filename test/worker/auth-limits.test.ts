import { env } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import { AUTH_FAILURE_PERIOD_SECONDS } from "../../src/worker/settings.ts";
import { ADMIN_KEY, call, KEY } from "./helpers.ts";

// Failed authentications are limited per client address by the Rate Limiting binding AUTH_LIMITER
// (wrangler.toml: 20 a minute), which Miniflare runs locally. Each test uses addresses of its own. Its windows are fixed minutes, so a
// run that straddles one may need up to twice the limit before the first 429.
const LIMIT = 20;

/** A request from `address` with `authorization`, as Cloudflare hands it over. */
const from = (address: string, path: string, authorization: string, init: RequestInit = {}) =>
  call(path, {
    ...init,
    headers: {
      "CF-Connecting-IP": address,
      Authorization: authorization,
      "Content-Type": "application/json",
    },
  });

/** Fail from `address` until refused with 429; every answer before it is the usual 401. */
async function failUntilRefused(address: string, path: string, authorization: string): Promise<Response> {
  for (let attempt = 1; attempt <= 2 * LIMIT + 1; attempt++) {
    const response = await from(address, path, authorization);
    if (response.status === 429) {
      expect(attempt).toBeGreaterThan(LIMIT);
      return response;
    }
    expect(response.status).toBe(401);
    await response.arrayBuffer();
  }
  throw new Error(`no 429 after ${2 * LIMIT + 1} failures`);
}

describe("failed authentications are limited per client address", () => {
  test("the binding runs here (wrangler.toml declares it; test/worker-settings.test.ts checks its figures)", () => {
    expect(env.AUTH_LIMITER).toBeDefined();
  });

  test("past the limit an address gets 429 with Retry-After, even with a good key; other addresses are not held up", async () => {
    const refused = await failUntilRefused(
      "203.0.113.10",
      "/v1/validate",
      "Token not-a-key-of-this-endpoint",
    );
    const wait = Number(refused.headers.get("Retry-After"));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(AUTH_FAILURE_PERIOD_SECONDS);
    // Userpilot's error shape on its routes, as for any refusal there.
    expect(await refused.json()).toMatchObject({
      errors: [{ error: "Too Many Requests", error_code: "too_many_failures" }],
      error: "too_many_failures",
    });
    // A right key from that address is refused too, before it is checked: guessing learns nothing.
    const body = JSON.stringify({ user_id: "held-up" });
    const good = await from("203.0.113.10", "/v1/identify", `Bearer ${KEY}`, { method: "POST", body });
    expect(good.status).toBe(429);
    const elsewhere = await from("203.0.113.11", "/v1/identify", `Bearer ${KEY}`, { method: "POST", body });
    expect(elsewhere.status).toBe(202);
  });

  test("admin keys too: the JSON routes, the page's Basic password and /health count failures", async () => {
    await failUntilRefused("203.0.113.20", "/v1/status", "Bearer wrong-admin-key");
    expect((await from("203.0.113.20", "/v1/status", `Bearer ${ADMIN_KEY}`)).status).toBe(429);
    await failUntilRefused("203.0.113.21", "/admin", `Basic ${btoa("operator:wrong-password")}`);
    expect((await from("203.0.113.21", "/admin", `Basic ${btoa(`operator:${ADMIN_KEY}`)}`)).status).toBe(429);
    // /health with a wrong key answers as to anyone (ok), until the address is over the limit.
    let health: Response;
    let attempts = 0;
    do {
      health = await from("203.0.113.22", "/health", "Bearer guessed-admin-key");
      attempts++;
      if (health.status !== 429) expect(await health.json()).toEqual({ status: "ok" });
    } while (health.status !== 429 && attempts <= 2 * LIMIT);
    expect(health.status).toBe(429);
    expect((await from("203.0.113.22", "/health", `Bearer ${ADMIN_KEY}`)).status).toBe(429);
  });

  test("successful requests are not counted", async () => {
    for (let i = 0; i < 2 * LIMIT + 2; i++) {
      const response = await from("203.0.113.30", "/v1/validate", `Token ${KEY}`);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
  });
});
