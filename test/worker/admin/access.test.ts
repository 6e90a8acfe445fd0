/**
 * Cloudflare Access for the operator's routes: tokens signed with keys made here (WebCrypto), the
 * team's keys served by a local key endpoint (test/support/jwks.global.ts), the app run with
 * ACCESS_TEAM_DOMAIN set to that endpoint's loopback origin.
 */
import { createExecutionContext, reset } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sign } from "hono/utils/jwt/jwt";
import { encodeBase64Url } from "hono/utils/encode";
import { beforeAll, beforeEach, describe, expect, inject, test, vi } from "vitest";
import { createApp } from "../../../src/worker/app.ts";
import { readSettings } from "../../../src/worker/settings.ts";
import { ADMIN_KEY, deliveryStub, ORIGIN, setAside } from "../helpers.ts";
import { type AccessTestKey as TestKey, makeAccessKey as makeKey } from "../../support/access-keys.ts";

const TEAM = inject("accessJwksOrigin");
const CERTS = `${TEAM}/cdn-cgi/access/certs`;
const AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
const EMAIL = "alice@example.com";
/** The Worker's env with Access configured; one object, so its settings are read once. */
const accessEnv = { ...env, ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD };
const readOnlyEnv = { ...accessEnv, ACCESS_ADMIN_SCOPE: "read" };

async function publish(...keys: TestKey[]): Promise<void> {
  const response = await fetch(CERTS, {
    method: "PUT",
    body: JSON.stringify({ keys: keys.map((key) => key.publicJwk) }),
  });
  expect(response.status).toBe(204);
}

const fetches = async (): Promise<number> =>
  ((await (await fetch(`${TEAM}/__jwks/fetches`)).json()) as { fetches: number }).fetches;

const now = () => Math.floor(Date.now() / 1000);

/** The claims of a good token, as Access writes them. */
const claims = (overrides: Record<string, unknown> = {}) => ({
  aud: [AUD],
  email: EMAIL,
  exp: now() + 300,
  iat: now() - 5,
  nbf: now() - 5,
  iss: TEAM,
  type: "app",
  sub: "7335d417-61da-459d-899c-0a01c76a2f94",
  ...overrides,
});

const part = (value: unknown) => encodeBase64Url(new TextEncoder().encode(JSON.stringify(value)).buffer);

/** A token with any header, signed by `signature` over its first two parts (or unsigned). */
async function forged(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signature: (data: Uint8Array) => Promise<ArrayBuffer> = () => Promise.resolve(new ArrayBuffer(0)),
): Promise<string> {
  const data = `${part(header)}.${part(payload)}`.replace(/=/g, "");
  return `${data}.${encodeBase64Url(await signature(new TextEncoder().encode(data))).replace(/=/g, "")}`;
}

/** The app with `environment`, asked `path` with these headers. */
function ask(
  path: string,
  headers: Record<string, string>,
  environment: object = accessEnv,
  init: RequestInit = {},
): Promise<Response> {
  return Promise.resolve(
    createApp().fetch(
      new Request(`${ORIGIN}${path}`, { ...init, headers }),
      environment,
      createExecutionContext(),
    ),
  );
}

let key: TestKey;
let other: TestKey;

/**
 * Fake the clock more than 30 s past any time faked before, so the keys held (fetched at one of
 * those times, perhaps) may be fetched again for an unknown kid. Undo with `vi.useRealTimers()`.
 */
let skew = 0;
function moveClockPastRefetch(): void {
  skew += 31_000;
  const real = Date.now();
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(real + skew);
}

beforeAll(async () => {
  [key, other] = await Promise.all([makeKey("access-key-1"), makeKey("access-key-other")]);
  await publish(key);
});

beforeEach(async () => {
  await reset();
});

describe("Cloudflare Access settings", () => {
  test("both vars set: tokens are accepted with the team as issuer; a bare team domain is https", () => {
    const read = readSettings({ ...env, ACCESS_TEAM_DOMAIN: "MyTeam.cloudflareaccess.com", ACCESS_AUD: AUD });
    expect(read.ok && read.settings.access).toEqual({
      issuer: "https://myteam.cloudflareaccess.com",
      audience: AUD,
      scopes: ["read", "full"],
    });
    const readOnly = readSettings({
      ...env,
      ACCESS_TEAM_DOMAIN: "https://myteam.cloudflareaccess.com/",
      ACCESS_AUD: AUD,
      ACCESS_ADMIN_SCOPE: "read",
    });
    expect(readOnly.ok && readOnly.settings.access?.scopes).toEqual(["read"]);
    const unset = readSettings(env);
    expect(unset.ok && unset.settings.access).toBeUndefined();
    // Operators can sign in with Access: no admin key is no longer worth a warning.
    const keyless = readSettings({ ...env, ADMIN_KEYS: "", ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD });
    expect(keyless.ok && keyless.warnings).toEqual([]);
    const neither = readSettings({ ...env, ADMIN_KEYS: "" });
    expect(neither.ok && neither.warnings).toEqual([expect.stringMatching(/^ADMIN_KEYS is not set/)]);
  });

  test("half set, another host, plain http elsewhere than 127.0.0.1 or an unknown scope is a named problem", () => {
    const problems = (vars: Record<string, string>) => {
      const read = readSettings({ ...env, ...vars });
      return read.ok ? [] : read.problems;
    };
    expect(problems({ ACCESS_TEAM_DOMAIN: "myteam.cloudflareaccess.com" })).toEqual([
      "ACCESS_TEAM_DOMAIN and ACCESS_AUD must be set together (Cloudflare Access), or neither",
    ]);
    expect(problems({ ACCESS_AUD: AUD })).toHaveLength(1);
    for (const domain of ["evil.example.com", "http://myteam.cloudflareaccess.com", "http://10.0.0.1:8080"]) {
      expect(problems({ ACCESS_TEAM_DOMAIN: domain, ACCESS_AUD: AUD })).toEqual([
        "ACCESS_TEAM_DOMAIN must be your Zero Trust team domain, <team>.cloudflareaccess.com",
      ]);
    }
    expect(problems({ ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD, ACCESS_ADMIN_SCOPE: "root" })).toEqual([
      "ACCESS_ADMIN_SCOPE must be read or full",
    ]);
  });
});

describe("an Access token on the operator's routes", () => {
  test("a valid token reads the status and the page, as access:<email>; the keys are fetched once", async () => {
    const before = await fetches();
    const token = await sign(claims(), key.privateJwk);
    const status = await ask("/v1/status", { "Cf-Access-Jwt-Assertion": token });
    expect(status.status).toBe(200);
    expect(await status.json()).toHaveProperty("setAside");
    const page = await ask("/admin", { "Cf-Access-Jwt-Assertion": token });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).not.toContain("read-only"); // a full identity: the page's forms are its
    const list = await ask("/v1/admin/set-aside", { "Cf-Access-Jwt-Assertion": token });
    expect(list.status).toBe(200);
    // One fetch at most for all three (none if an earlier test of this isolate fetched them).
    expect(await fetches() - before).toBeLessThanOrEqual(1);
  });

  test("the page's form acts through Access and is audited under the Access email; CSRF still holds", async () => {
    await setAside(["poisoned"]);
    const token = await sign(claims(), key.privateJwk);
    const lines = vi.spyOn(console, "warn");
    const form = new URLSearchParams([["do", "purge-all"], ["confirm", "yes"]]).toString();
    const formHeaders = {
      "Cf-Access-Jwt-Assertion": token,
      "Content-Type": "application/x-www-form-urlencoded",
    };
    const done = await ask(
      "/admin/set-aside",
      { ...formHeaders, Origin: ORIGIN, "Sec-Fetch-Site": "same-origin" },
      accessEnv,
      {
        method: "POST",
        body: form,
        redirect: "manual",
      },
    );
    expect(done.status).toBe(303);
    const audit = lines.mock.calls.map((args) => String(args[0])).find((line) =>
      line.includes('"event":"audit"')
    );
    expect(JSON.parse(audit!)).toMatchObject({
      credential: `access:${EMAIL}`,
      action: "purge",
      route: "POST /admin/set-aside",
      taken: 1,
    });
    const page = await ask(done.headers.get("Location")!, { "Cf-Access-Jwt-Assertion": token });
    expect(await page.text()).toContain(`access:${EMAIL}`);
    // Access sends its cookie (and so adds its header) to a form another site submits, as a browser
    // resends Basic credentials: the page's CSRF check refuses it before the token is even looked at.
    const crossSite = await ask(
      "/admin/set-aside",
      { ...formHeaders, Origin: "https://evil.example", "Sec-Fetch-Site": "cross-site" },
      accessEnv,
      {
        method: "POST",
        body: form,
      },
    );
    expect(crossSite.status).toBe(403);
    expect(lines.mock.calls.filter((args) => String(args[0]).includes('"event":"audit"'))).toHaveLength(1);
  });

  test("the JSON routes take only application/json, which a cross-site form cannot send with Access's cookie", async () => {
    await setAside(["kept"]);
    const token = await sign(claims(), key.privateJwk);
    for (
      const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
    ) {
      const forged = await ask(
        "/v1/admin/set-aside/purge",
        {
          "Cf-Access-Jwt-Assertion": token,
          "Content-Type": type,
          Origin: "https://evil.example",
        },
        accessEnv,
        { method: "POST", body: '{"all":true}' },
      );
      expect(forged.status, type).toBe(415);
    }
    expect((await (await deliveryStub()).status()).setAside.count).toBe(1);
  });

  test("ACCESS_ADMIN_SCOPE=read: the identity reads, and is refused what only a full admin may do", async () => {
    await setAside(["kept"]);
    const token = await sign(claims(), key.privateJwk);
    expect((await ask("/v1/status", { "Cf-Access-Jwt-Assertion": token }, readOnlyEnv)).status).toBe(200);
    const purge = await ask(
      "/v1/admin/set-aside/purge",
      {
        "Cf-Access-Jwt-Assertion": token,
        "Content-Type": "application/json",
      },
      readOnlyEnv,
      { method: "POST", body: JSON.stringify({ all: true }) },
    );
    expect(purge.status).toBe(403);
    const page = await ask("/admin", { "Cf-Access-Jwt-Assertion": token }, readOnlyEnv);
    expect(await page.text()).toContain("read-only");
    expect((await (await deliveryStub()).status()).setAside.count).toBe(1);
  });

  const refused: [string, () => Promise<string>][] = [
    ["expired", () => sign(claims({ exp: now() - 10 }), key.privateJwk)],
    ["not yet valid", () => sign(claims({ nbf: now() + 60 }), key.privateJwk)],
    ["without an expiry", () => sign(claims({ exp: undefined }), key.privateJwk)],
    [
      "for another application (aud)",
      () => sign(claims({ aud: ["another-application-aud"] }), key.privateJwk),
    ],
    [
      "from another team (iss)",
      () => sign(claims({ iss: "https://other.cloudflareaccess.com" }), key.privateJwk),
    ],
    ["without an email", () => sign(claims({ email: undefined }), key.privateJwk)],
    ["unsigned", async () => (await sign(claims(), key.privateJwk)).replace(/\.[^.]+$/, ".")],
    ["with two parts", async () => (await sign(claims(), key.privateJwk)).replace(/\.[^.]+$/, "")],
    ["alg none", () => forged({ alg: "none", typ: "JWT", kid: key.kid }, claims())],
    [
      "signed by another key under the team's kid",
      () => sign(claims(), { ...other.privateJwk, kid: key.kid }),
    ],
    ["signed by a key the team does not publish", () => sign(claims(), other.privateJwk)],
    [
      "HS256 keyed with the team's public key",
      () =>
        forged({ alg: "HS256", typ: "JWT", kid: key.kid }, claims(), async (data) => {
          const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
          const hmac = await crypto.subtle.importKey(
            "raw",
            secret,
            { name: "HMAC", hash: "SHA-256" },
            false,
            ["sign"],
          );
          return await crypto.subtle.sign("HMAC", hmac, data);
        }),
    ],
    ["garbage", () => Promise.resolve("not-a-token")],
  ];

  for (const [name, make] of refused) {
    test(`a token ${name} is refused 401 on the JSON routes and the page, even beside a good admin key`, async () => {
      const token = await make();
      const status = await ask("/v1/status", {
        "Cf-Access-Jwt-Assertion": token,
        Authorization: `Bearer ${ADMIN_KEY}`,
      });
      expect(status.status).toBe(401);
      expect(await status.json()).toEqual({ error: "unauthorized" });
      const page = await ask("/admin", { "Cf-Access-Jwt-Assertion": token });
      expect(page.status).toBe(401);
      expect(page.headers.get("WWW-Authenticate")).toMatch(/^Basic /);
    });
  }

  test("a refused token is logged as bad_access_token with the check that failed, and counted per address", async () => {
    const lines = vi.spyOn(console, "warn");
    const expired = await sign(claims({ exp: now() - 10 }), key.privateJwk);
    let last: Response | undefined;
    for (let attempt = 0; attempt < 41 && last?.status !== 429; attempt++) {
      last = await ask("/v1/status", {
        "Cf-Access-Jwt-Assertion": expired,
        "CF-Connecting-IP": "203.0.113.77",
      });
    }
    expect(last!.status).toBe(429); // AUTH_LIMITER: past 20 failures in a minute
    const failed = lines.mock.calls.map((args) => String(args[0])).find((line) =>
      line.includes('"event":"auth_failed"')
    );
    expect(JSON.parse(failed!)).toMatchObject({
      reason: "bad_access_token",
      why: "JwtTokenExpired",
      path: "/v1/status",
    });
    expect(failed).not.toContain(expired);
  });

  test("when the team's keys cannot be fetched, the keys held are kept, other tokens are refused, and the log says why", async () => {
    const good = await sign(claims(), key.privateJwk);
    expect((await ask("/v1/status", { "Cf-Access-Jwt-Assertion": good })).status).toBe(200); // the keys are held
    const lines = vi.spyOn(console, "error");
    await fetch(`${TEAM}/__jwks/status`, { method: "PUT", body: "503" });
    try {
      moveClockPastRefetch();
      const before = await fetches();
      const unknown = await sign(claims(), { ...other.privateJwk, kid: "not-published" });
      expect((await ask("/v1/status", { "Cf-Access-Jwt-Assertion": unknown })).status).toBe(401);
      expect(await fetches() - before).toBe(1);
      const logged = lines.mock.calls.map((args) => String(args[0])).find((line) =>
        line.includes("access_keys_unavailable")
      );
      expect(JSON.parse(logged!)).toMatchObject({ url: CERTS, problem: "answered 503" });
      const stillGood = await sign(claims(), key.privateJwk);
      expect((await ask("/v1/status", { "Cf-Access-Jwt-Assertion": stillGood })).status).toBe(200);
    } finally {
      vi.useRealTimers();
      await fetch(`${TEAM}/__jwks/status`, { method: "PUT", body: "200" });
    }
  });

  test("without Access configured the header is ignored: admin keys only", async () => {
    const token = await sign(claims(), key.privateJwk);
    expect((await ask("/v1/status", { "Cf-Access-Jwt-Assertion": token }, env)).status).toBe(401);
    expect(
      (await ask(
        "/v1/status",
        { "Cf-Access-Jwt-Assertion": token, Authorization: `Bearer ${ADMIN_KEY}` },
        env,
      )).status,
    )
      .toBe(200);
    // With Access configured and no token, admin keys work as before.
    expect((await ask("/v1/status", { Authorization: `Bearer ${ADMIN_KEY}` })).status).toBe(200);
  });

  test("a key the team starts signing with after the keys were cached is fetched once it is seen (rotation)", async () => {
    const rotated = await makeKey("access-key-2");
    await publish(key, rotated);
    // The keys are refetched for an unknown kid at most every 30 s: move the clock past that.
    try {
      moveClockPastRefetch();
      const before = await fetches();
      const fresh = await sign(claims(), rotated.privateJwk);
      expect((await ask("/v1/status", { "Cf-Access-Jwt-Assertion": fresh })).status).toBe(200);
      expect(await fetches() - before).toBe(1);
      // Made-up kids right after do not fetch again.
      const madeUp = await sign(claims(), { ...other.privateJwk, kid: "made-up" });
      expect((await ask("/v1/status", { "Cf-Access-Jwt-Assertion": madeUp })).status).toBe(401);
      expect(await fetches() - before).toBe(1);
    } finally {
      vi.useRealTimers();
      await publish(key);
    }
  });
});
