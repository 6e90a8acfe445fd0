import { reset } from "cloudflare:test";
import { beforeEach, describe, expect, type MockInstance, test, vi } from "vitest";
import type { DeliveryStatus } from "../../../src/worker/delivery/index.ts";
import {
  admin,
  ADMIN_KEY,
  call,
  deliveryStub,
  drained,
  eventually,
  KEY,
  ORIGIN,
  sandbox,
  setAside,
  TEST_KEYS,
} from "../helpers.ts";

beforeEach(async () => {
  await reset();
  await sandbox("/__sandbox/reset", {});
  await sandbox("/__sandbox/config", { rowsPerMinute: 600_000, queueMs: 5 });
});

const basic = (password: string, user = "operator") => `Basic ${btoa(`${user}:${password}`)}`;

/** Ask for the page as a browser does once the operator typed the key into its prompt. */
function browse(path: string, init: RequestInit & { password?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("Authorization", basic(init.password ?? ADMIN_KEY));
  return call(path, { ...init, headers });
}

/** A form POST from the page itself: same origin, as the browser labels it. Redirects are not followed. */
function submit(
  form: [string, string][],
  headers: Record<string, string> = {},
  password = ADMIN_KEY,
): Promise<Response> {
  return browse("/admin/set-aside", {
    method: "POST",
    redirect: "manual",
    password,
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      Origin: ORIGIN,
      "Sec-Fetch-Site": "same-origin",
      ...headers,
    },
    body: new URLSearchParams(form).toString(),
  });
}

/** The `audit` log lines written to a console spy, as text. */
const audits = (spy: MockInstance<(...args: unknown[]) => void>): string[] =>
  spy.mock.calls.map((args) => String(args[0])).filter((line) => line.includes('"event":"audit"'));

/** Each `data-status` figure of the page, as its text (durations: their `datetime`). */
async function figures(response: Response): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  let current: string | undefined;
  await new HTMLRewriter()
    .on("[data-status]", {
      element(element) {
        current = element.getAttribute("data-status")!;
        const datetime = element.getAttribute("datetime");
        found[current] = datetime ?? "";
        if (datetime !== null) current = undefined;
      },
      text(text) {
        if (current !== undefined) found[current] += text.text;
      },
    })
    .transform(response)
    .text();
  return found;
}

/** The number a figure shows: `1,234 rows` → 1234, `PT90S` → 90. */
const numberIn = (text: string): number => Number(text.replace(/^PT|S$/g, "").replace(/[^0-9.]/g, ""));

describe("who may see the operator's page", () => {
  test("without credentials it is 401 with the browser's Basic prompt; an ingest key or a wrong key is 401 too", async () => {
    const none = await call("/admin");
    expect(none.status).toBe(401);
    expect(none.headers.get("WWW-Authenticate")).toMatch(/^Basic realm="/);
    expect((await browse("/admin", { password: KEY })).status).toBe(401);
    expect((await browse("/admin", { password: "not-a-key" })).status).toBe(401);
    expect((await call("/admin", { headers: { Authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(401);
    expect((await browse("/admin/set-aside.ndjson", { password: KEY })).status).toBe(401);
    const action = await submit([["do", "purge-all"], ["confirm", "yes"]], {}, KEY);
    expect(action.status).toBe(401);
  });

  test("with an admin key as the password (any user name) it is the page, under a nonce-only CSP", async () => {
    const response = await browse("/admin", { password: ADMIN_KEY, headers: {} });
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    const csp = response.headers.get("Content-Security-Policy")!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/form-action 'self'/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(csp).toMatch(/base-uri 'none'/);
    // And what hono/secure-headers sends by default, as it sends it (framing denied outright).
    for (
      const [name, value] of [
        ["X-Frame-Options", "DENY"],
        ["X-Content-Type-Options", "nosniff"],
        ["Referrer-Policy", "no-referrer"],
        ["Strict-Transport-Security", "max-age=15552000; includeSubDomains"],
        ["Cross-Origin-Opener-Policy", "same-origin"],
        ["Cross-Origin-Resource-Policy", "same-origin"],
      ]
    ) expect(response.headers.get(name!), name).toBe(value);
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)![1]!;
    const html = await response.text();
    expect(html.startsWith("<!doctype html>")).toBe(true);
    const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((match) => match[1]);
    expect(scripts).toEqual([` nonce="${nonce}"`]);
    expect(html).not.toMatch(/\bsrc=|<link|@import|url\(/); // nothing loaded from anywhere
    expect((await browse("/admin", { password: ADMIN_KEY })).headers.get("Content-Security-Policy")).not.toBe(
      csp,
    ); // a fresh nonce each time
  });
});

describe("what the page shows", () => {
  test("its figures are /v1/status's, and the rows set aside are listed with reason and age", async () => {
    // Userpilot down: the backlog holds still while the page and the status are read.
    await sandbox("/__sandbox/faults", { rate5xx: 1 });
    await setAside(["refused-1", "refused-2"], Date.now() - 90_000);
    const stub = await deliveryStub();
    await stub.enqueue([
      {
        kind: "users",
        receivedAt: Date.now(),
        rows: [{ user_id: "u0" }, { user_id: "u1" }, { user_id: "u2" }],
      },
      { kind: "companies", receivedAt: Date.now(), rows: [{ company_id: "acme" }] },
      // u0's events wait for u0; a delete waits for Userpilot to come back.
      {
        kind: "events",
        receivedAt: Date.now(),
        events: ["opened", "paid"].map((name) => ({
          eventId: name,
          event: { user_id: "u0", event_name: name },
        })),
      },
    ]);
    await stub.deleteIds("users", ["gone"], Date.now());
    // The rows set aside raise their alert condition at the next delivery step.
    await eventually(() => stub.status(), (current) => current.alerts.active.includes("set_aside"));
    const status = await (await admin("/v1/status")).json() as DeliveryStatus;
    const response = await browse("/admin");
    const html = await response.clone().text();
    const shown = await figures(response);
    const fields = [
      "pending.users",
      "pending.companies",
      "pending.events",
      "pending.deletions",
      "events.received",
      "events.perMinute",
      "events.estimatedDrainSeconds",
      "suspects",
      "estimatedDrainSeconds",
      "rowsPerMinute",
      "rowsReceived",
      "rowsDelivered",
      "rowsUnchanged",
      "propertiesUnchanged",
      "jobsCompleted",
      "setAside.count",
    ];
    expect(Object.keys(shown)).toEqual(expect.arrayContaining(fields));
    for (const field of fields) {
      const expected = field.split(".").reduce<unknown>(
        (value, key) => (value as Record<string, unknown>)[key],
        status,
      );
      expect(numberIn(shown[field]!), field).toBe(expected);
    }
    expect(shown["setAside.count"]).toBe("2 rows");
    expect(shown["pending.events"]).toBe("2 events");
    expect(shown["pending.deletions"]).toBe("1 id");
    expect(html).toContain(`<dd data-alerts="">${status.alerts.active.join(", ")}</dd>`);
    expect(status.alerts.active).toContain("set_aside");
    expect(html).toContain("refused-1");
    expect(html).toContain("answered 400 (invalid_row)");
    expect(html).toMatch(/\(1 min ago\)/);
    expect(html).toMatch(/<time datetime="[0-9T:.-]+Z" data-local="">[0-9-]+ [0-9:]+ UTC<\/time>/);
    expect(html).toMatch(/<svg viewBox="0 0 720 172" role="img"/);
  });

  test("the NDJSON download is the export of the JSON route", async () => {
    await setAside(["a", "b"]);
    const download = await browse("/admin/set-aside.ndjson");
    expect(download.headers.get("Content-Type")).toBe("application/x-ndjson");
    expect(await download.text()).toBe(await (await admin("/v1/admin/set-aside/export")).text());
  });
});

describe("a read-only admin key", () => {
  test("sees the page and the rows set aside without their actions; a form posted anyway is 403 and does nothing", async () => {
    await setAside(["seen"]);
    const response = await browse("/admin", { password: TEST_KEYS.viewer });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain("seen");
    expect(html).not.toContain('type="checkbox"');
    expect(html).not.toContain("<button");
    expect(html).toContain("This admin key is read-only");
    expect((await browse("/admin/set-aside.ndjson", { password: TEST_KEYS.viewer })).status).toBe(200);
    const action = await submit([["do", "purge-all"], ["confirm", "yes"]], {}, TEST_KEYS.viewer);
    expect(action.status).toBe(403);
    expect(await action.text()).toContain("is read-only");
    expect((await (await deliveryStub()).status()).setAside.count).toBe(1);
    // A full key gets the form.
    expect(await (await browse("/admin")).text()).toContain('type="checkbox"');
  });
});

describe("what the page does", () => {
  test("a cross-site POST is refused, with the admin key or without, and changes nothing", async () => {
    await setAside(["kept"]);
    const forged = [["do", "purge-all"], ["confirm", "yes"]] as [string, string][];
    const attempts = [
      { Origin: "https://evil.example", "Sec-Fetch-Site": "cross-site" },
      { Origin: "https://ingest.example.com.evil.example", "Sec-Fetch-Site": "same-site" },
      { Origin: "null", "Sec-Fetch-Site": "cross-site" },
    ];
    for (const headers of attempts) {
      const response = await submit(forged, headers);
      expect(response.status, JSON.stringify(headers)).toBe(403);
    }
    // A form with neither header (not a browser, or a very old one) is refused as well.
    const bare = await browse("/admin/set-aside", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(forged).toString(),
    });
    expect(bare.status).toBe(403);
    expect((await (await deliveryStub()).status()).setAside.count).toBe(1);
  });

  test("redrive asks first, then acts, audits it with the credential's name (never the key nor a hash of it) and redirects back", async () => {
    await setAside(["fix-me", "leave-me"]);
    const { rows } = await (await deliveryStub()).listSetAside({ limit: 10 });
    const seq = String(rows.find((row) => row.id === "fix-me")!.seq);
    const asked = await submit([["do", "redrive-selected"], ["seq", seq]]);
    expect(asked.status).toBe(200);
    const confirm = await asked.text();
    expect(confirm).toContain("Redrive 1 row set aside?");
    expect(confirm).toContain(`<input type="hidden" name="seq" value="${seq}"/>`);
    expect(confirm).toContain('<input type="hidden" name="confirm" value="yes"/>');
    expect((await (await deliveryStub()).status()).setAside.count).toBe(2); // nothing done yet

    const warn = vi.spyOn(console, "warn");
    const done = await submit([["do", "redrive-selected"], ["seq", seq], ["confirm", "yes"]]);
    expect(done.status).toBe(303);
    const logged = audits(warn);
    expect(logged).toHaveLength(1);
    const entry = JSON.parse(logged[0]!);
    expect(entry).toMatchObject({
      credential: "ops",
      action: "redrive",
      route: "POST /admin/set-aside",
      named: 1,
      taken: 1,
    });
    expect(done.headers.get("Location")).toBe(`/admin?done=${entry.seq}`);
    // Neither the key nor any piece of a hash of it, which would let a weak key be cracked offline.
    const digest = [
      ...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(ADMIN_KEY))),
    ]
      .map((byte) => byte.toString(16).padStart(2, "0")).join("");
    expect(logged[0]).not.toContain(ADMIN_KEY);
    expect(logged[0]).not.toContain(digest.slice(0, 8));
    // The same key through the JSON route is audited under the same name.
    warn.mockClear();
    await admin("/v1/admin/set-aside/redrive", { seqs: [999_999] });
    expect(JSON.parse(audits(warn)[0]!)).toMatchObject({ credential: "ops", named: 1, taken: 0 });

    await drained();
    expect(await sandbox("/__sandbox/users/fix-me")).toEqual({ user_id: "fix-me", metadata: { n: 0 } });
    const after = await browse(`/admin?done=${entry.seq}`);
    const page = await after.text();
    expect(page).toMatch(/role="status">1 row put back into the backlog, each to be sent alone\.</);
    expect(page).not.toContain("fix-me");
    expect(page).toContain("leave-me");
  });

  test("the page's notice is the server's record of an action: text in the query string shows nothing", async () => {
    for (
      const query of ["?done=redrive&n=1000000", "?done=purge&n=5", "?done=999999", "?done=1%20rows%20lost"]
    ) {
      const html = await (await browse(`/admin${query}`)).text();
      expect(html, query).not.toContain('role="status"');
    }
  });

  test("the page lists the recent audited actions: deletes, redrives, purges and forgets, by credential name", async () => {
    await setAside(["p1", "p2", "p3"]);
    const { rows } = await (await deliveryStub()).listSetAside({ limit: 10 });
    const purge = await submit([["do", "purge-selected"], ["seq", String(rows[0]!.seq)], ["confirm", "yes"]]);
    expect(purge.status).toBe(303);
    await admin("/v1/admin/fingerprints/forget", { all: true });
    expect(
      (await call("/v1/users", {
        method: "DELETE",
        headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
        body: JSON.stringify({ users: ["gone-1", "gone-2"] }),
      })).status,
    ).toBe(202);
    const html = await (await browse("/admin")).text();
    const section = html.slice(html.indexOf('<h2 id="audit">'));
    const lines = [...section.matchAll(/<tr data-audit="(\w+)">(.*?)<\/tr>/g)].map(([, action, row]) => ({
      action,
      text: row!.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim(),
    }));
    expect(lines.map((line) => line.action)).toEqual(["delete", "forget", "purge"]);
    expect(lines[0]!.text).toMatch(/tester DELETE \/v1\/users 2 ids deleted$/);
    expect(lines[1]!.text).toMatch(
      /ops POST \/v1\/admin\/fingerprints\/forget fingerprints of 0 profiles forgotten \(all\)$/,
    );
    expect(lines[2]!.text).toMatch(/ops POST \/admin\/set-aside 1 row purged for good$/);
    for (const key of [KEY, ADMIN_KEY]) expect(section).not.toContain(key);
  });

  test("purge all asks first; nothing selected, or a form the page never sends, is a 400 that does nothing", async () => {
    await setAside(["x", "y", "z"]);
    const asked = await (await submit([["do", "purge-all"]])).text();
    expect(asked).toContain("Purge all 3 rows set aside?");
    expect((await submit([["do", "purge-selected"], ["confirm", "yes"]])).status).toBe(400);
    expect((await submit([["do", "delete-everything"], ["confirm", "yes"]])).status).toBe(400);
    expect((await submit([["do", "purge-selected"], ["seq", "-1"], ["confirm", "yes"]])).status).toBe(400);
    expect((await (await deliveryStub()).status()).setAside.count).toBe(3);
    const done = await submit([["do", "purge-all"], ["confirm", "yes"]]);
    expect(done.headers.get("Location")).toMatch(/^\/admin\?done=\d+$/);
    expect((await (await deliveryStub()).status()).setAside.count).toBe(0);
  });
});
