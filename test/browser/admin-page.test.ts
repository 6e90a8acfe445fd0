/**
 * The operator's page in a real browser (Chromium or Chrome, headless) against the local stack
 * (`wrangler dev` + the sandbox): its figures are /v1/status's, a row Userpilot refused is
 * redriven through the page's forms with JavaScript off and arrives in the sandbox, the redrive
 * and a caller's delete are listed under its recent actions by credential name, and with
 * JavaScript on its times are in the viewer's locale under the page's CSP; behind Cloudflare
 * Access (a token signed with a key made here, the team's keys served on 127.0.0.1) the page works
 * as with Basic auth and audits its actions under the Access email. Screenshots are kept in
 * test-results/ (git-ignored).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  DEV_ADMIN_KEY,
  DEV_INGEST_KEY,
  freePorts,
  type LocalStack,
  startLocalStack,
} from "../../scripts/local-stack.ts";
import { sign } from "hono/utils/jwt/jwt";
import { browserForTests, launchChromium } from "../support/chromium.ts";
import { makeAccessKey } from "../support/access-keys.ts";
import { type JwksServer, startJwksServer } from "../support/jwks-server.ts";
import { randomSeed, testSeed } from "../support/seed.ts";

// Found, installed (CI), or skipped with a line saying how to run it (test/support/chromium.ts).
const browser = browserForTests();
const CHROMIUM = "path" in browser ? browser.path : undefined;
if ("skip" in browser) console.log(`browser/admin-page.test.ts skipped: ${browser.skip}`);
const SEED = testSeed("browser/admin-page.test.ts", randomSeed());
const RESULTS = new URL("../../test-results/", import.meta.url).pathname;
const persist = mkdtempSync(join(tmpdir(), "userpilot-admin-page-"));
const credentials = { username: "operator", password: DEV_ADMIN_KEY };
let stack: LocalStack;
let jwks: JwksServer;
/** The Access application's AUD tag the Worker is configured with. */
const ACCESS_AUD = "0b9f6e1d2c3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
let accessKey: JsonWebKey & { kid: string; alg: "RS256" };

beforeAll(async () => {
  if (CHROMIUM === undefined) return;
  jwks = await startJwksServer();
  const key = await makeAccessKey("browser-key");
  jwks.setKeys([key.publicJwk]);
  accessKey = key.privateJwk;
  const [workerPort, sandboxPort] = await freePorts(2);
  stack = await startLocalStack({
    workerPort: workerPort!,
    sandboxPort: sandboxPort!,
    persistTo: persist,
    sandbox: { rowsPerMinute: 600_000, queueMs: 5, seed: SEED },
    vars: {
      POLL_INTERVAL_MS: "50",
      BACKOFF_BASE_MS: "20",
      BACKOFF_MAX_MS: "200",
      ACCESS_TEAM_DOMAIN: jwks.origin,
      ACCESS_AUD,
    },
  });
}, 600_000);

afterAll(async () => {
  await stack?.stop();
  await jwks?.close();
  rmSync(persist, { recursive: true, force: true });
});

type Status = Record<string, unknown> & { setAside: { count: number }; job: unknown; pending: object };

async function status(): Promise<Status> {
  const response = await fetch(`${stack.workerUrl}/v1/status`, {
    headers: { Authorization: `Bearer ${DEV_ADMIN_KEY}` },
  });
  return (await response.json()) as Status;
}

async function identify(user_id: string, metadata: Record<string, string | number>): Promise<void> {
  const response = await fetch(`${stack.workerUrl}/v1/identify`, {
    method: "POST",
    headers: { Authorization: `Bearer ${DEV_INGEST_KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify({ user_id, metadata }),
  });
  expect(response.status).toBe(202);
}

/** Nothing pending and no job in flight: the figures hold still. */
const idle = (current: Status): boolean =>
  current.job === null && Object.values(current.pending).every((count) => count === 0);

/** Poll (bounded) until `check` returns something. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (seed ${SEED})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every `data-status` figure on the page as a number: `1,234 rows` → 1234, `PT90S` → 90. */
async function figures(page: Page): Promise<Record<string, number>> {
  const shown = await page.$$eval("[data-status]", (elements) =>
    elements.map((element) => [
      element.getAttribute("data-status")!,
      element.getAttribute("datetime") ?? element.textContent ?? "",
    ]));
  return Object.fromEntries(
    shown.map(([field, text]) => [field, Number(text!.replace(/^PT|S$/g, "").replace(/[^0-9.]/g, ""))]),
  );
}

function expectFiguresOf(shown: Record<string, number>, current: Status): void {
  expect(Object.keys(shown).length).toBeGreaterThanOrEqual(9);
  for (const [field, value] of Object.entries(shown)) {
    const expected = field.split(".").reduce<unknown>(
      (at, key) => (at as Record<string, unknown>)[key],
      current,
    );
    expect(value, field).toBe(expected);
  }
}

test.skipIf(CHROMIUM === undefined)(
  "the operator's page shows /v1/status, redrives a refused row into the sandbox, and works with and without JavaScript",
  async () => {
    // A row Userpilot refuses: set aside once it has failed alone 4 times with other jobs completing
    // in between, so other traffic keeps flowing until it is.
    await stack.sandbox("/__sandbox/faults", { refuseIds: ["poison"] });
    await identify("poison", { plan: "enterprise", seats: 40 });
    let n = 0;
    await until("the refused row to be set aside", async () => {
      await identify(`traffic-${n++}`, { plan: "free" });
      return (await status()).setAside.count >= 1 ? true : undefined;
    });
    // The operator has fixed the cause at Userpilot; every call is merged and the backlog drains.
    await stack.sandbox("/__sandbox/faults", {});
    const quiet = await until("the backlog to drain", async () => {
      const current = await status();
      return idle(current) && current["rowsReceived"] === n + 1 ? current : undefined;
    });
    expect(quiet.setAside.count).toBe(1);
    // A caller deletes a user: irreversible, so audited under its key's name.
    const deleted = await fetch(`${stack.workerUrl}/v1/users`, {
      method: "DELETE",
      headers: { Authorization: `Token ${DEV_INGEST_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ users: ["left-the-company"] }),
    });
    expect(deleted.status).toBe(202);

    // Without JavaScript: read, select, confirm, redrive.
    const plain = await launchChromium(CHROMIUM!, { httpCredentials: credentials, javaScriptEnabled: false });
    try {
      const page = await plain.newPage();
      const response = await page.goto(`${stack.workerUrl}/admin`);
      expect(response!.status()).toBe(200);
      expectFiguresOf(await figures(page), await status());
      const row = page.locator("tbody tr", { hasText: "poison" });
      await expect(row.textContent()).resolves.toMatch(/answered 400.*\d+ (s|min) ago/s);
      expect(await page.locator("time[data-local]").first().textContent()).toMatch(/ UTC$/);
      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: join(RESULTS, "admin-page-set-aside.png"), fullPage: true });
      await page.getByLabel("Select user poison").check();
      await page.getByRole("button", { name: "Redrive selected" }).click();
      await expect(page.locator("h1").textContent()).resolves.toBe("Redrive 1 row set aside?");
      await page.getByRole("button", { name: "Yes, redrive 1 row set aside" }).click();
      expect(new URL(page.url()).pathname).toBe("/admin");
      await expect(page.getByRole("status").textContent()).resolves.toBe(
        "1 row put back into the backlog, each to be sent alone.",
      );
      // Both actions are audited, newest first, by the names of the credentials that asked.
      const recent = page.getByRole("region", { name: "Recent actions" }).locator("tbody tr");
      expect(await recent.count()).toBe(2);
      await expect(recent.nth(0).innerText()).resolves.toMatch(
        /\bago\)\s+operator\s+POST \/admin\/set-aside\s+1 row put back into the backlog/,
      );
      await expect(recent.nth(1).innerText()).resolves.toMatch(
        /\bago\)\s+dev\s+DELETE \/v1\/users\s+1 id deleted$/,
      );
      await page.screenshot({ path: join(RESULTS, "admin-page-audit.png"), fullPage: true });
    } finally {
      await plain.dispose();
    }
    const delivered = await until("the redriven row to reach the sandbox", async () => {
      const response = await fetch(`${stack.sandboxUrl}/__sandbox/users/poison`);
      return response.status === 200 ? await response.json() : (await response.arrayBuffer(), undefined);
    });
    expect(delivered).toEqual({ user_id: "poison", metadata: { plan: "enterprise", seats: 40 } });
    await until("the backlog to drain again", async () => {
      const current = await status();
      return idle(current) && current.setAside.count === 0 ? true : undefined;
    });

    // With JavaScript, in a Tokyo browser set to German: local times, and nothing the CSP blocks.
    const scripted = await launchChromium(CHROMIUM!, {
      httpCredentials: credentials,
      locale: "de-DE",
      timezoneId: "Asia/Tokyo",
      viewport: { width: 1100, height: 900 },
    });
    try {
      const page = await scripted.newPage();
      const problems: string[] = [];
      page.on("console", (message) => message.type() === "error" && problems.push(message.text()));
      page.on("pageerror", (error) => problems.push(error.message));
      await page.goto(`${stack.workerUrl}/admin`);
      expectFiguresOf(await figures(page), await status());
      const time = page.locator("time[data-localized]").first();
      const iso = (await time.getAttribute("datetime"))!;
      expect(await time.textContent()).toBe(
        new Date(iso).toLocaleString("de-DE", { timeZone: "Asia/Tokyo" }),
      );
      expect(await page.locator("#backlog-title").textContent()).toBe("Backlog (rows)");
      expect(await page.locator("svg.backlog path.area").getAttribute("d")).toMatch(/^M[\d.]+,150V/);
      expect(problems).toEqual([]);
      await page.screenshot({ path: join(RESULTS, "admin-page.png"), fullPage: true });
      // Readable at phone width: nothing wider than the screen.
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await page.screenshot({ path: join(RESULTS, "admin-page-phone.png"), fullPage: true });
    } finally {
      await scripted.dispose();
    }
  },
  180_000,
);

/** A token as Cloudflare Access hands it to the Worker for `email`. */
function accessToken(email: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign(
    { aud: [ACCESS_AUD], email, exp: now + 600, iat: now, nbf: now, iss: jwks.origin, type: "app" },
    accessKey,
  );
}

test.skipIf(CHROMIUM === undefined)(
  "behind Cloudflare Access the page works as with Basic auth, and its actions are audited under the Access email",
  async () => {
    const before = (await status())["rowsReceived"] as number;
    await stack.sandbox("/__sandbox/faults", { refuseIds: ["poison-access"] });
    await identify("poison-access", { plan: "trial" });
    let n = 0;
    await until("the refused row to be set aside", async () => {
      await identify(`access-traffic-${n++}`, { plan: "free" });
      return (await status()).setAside.count >= 1 ? true : undefined;
    });
    await stack.sandbox("/__sandbox/faults", {});
    await until("the backlog to drain", async () => {
      const current = await status();
      // Every call merged (none still in the Queue), then nothing pending.
      return idle(current) && current["rowsReceived"] === before + n + 1 && current.setAside.count === 1
        ? true
        : undefined;
    });

    // No Basic credentials at all: the token Access adds to every request is the only credential.
    const token = await accessToken("alice@example.com");
    const access = await launchChromium(CHROMIUM!, {
      javaScriptEnabled: false,
      extraHTTPHeaders: { "Cf-Access-Jwt-Assertion": token },
    });
    try {
      const page = await access.newPage();
      const response = await page.goto(`${stack.workerUrl}/admin`);
      expect(response!.status()).toBe(200);
      expectFiguresOf(await figures(page), await status());
      await page.getByLabel("Select user poison-access").check();
      await page.getByRole("button", { name: "Purge selected" }).click();
      await expect(page.locator("h1").textContent()).resolves.toBe("Purge 1 row set aside?");
      await page.getByRole("button", { name: "Yes, purge 1 row set aside" }).click();
      expect(new URL(page.url()).pathname).toBe("/admin");
      const recent = page.getByRole("region", { name: "Recent actions" }).locator("tbody tr");
      await expect(recent.nth(0).innerText()).resolves.toMatch(
        /\bago\)\s+access:alice@example\.com\s+POST \/admin\/set-aside\s+1 row/,
      );
      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: join(RESULTS, "admin-page-access.png"), fullPage: true });
    } finally {
      await access.dispose();
    }
    expect((await status()).setAside.count).toBe(0);
    // A token Access did not sign is refused like a wrong key.
    const forged = await fetch(`${stack.workerUrl}/admin`, {
      headers: { "Cf-Access-Jwt-Assertion": token.replace(/\.[^.]+$/, ".") },
    });
    expect(forged.status).toBe(401);
  },
  180_000,
);
