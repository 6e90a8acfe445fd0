import { createExecutionContext, reset, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, test, vi } from "vitest";
import { createApp } from "../../../src/worker/app.ts";
import { DeliveryObject } from "../../../src/worker/delivery/index.ts";
import { readSettings } from "../../../src/worker/settings.ts";
import {
  admin,
  ADMIN_KEY,
  call,
  deliveryStub,
  drained,
  KEY,
  post,
  sandbox,
  setAside,
  TEST_KEYS,
} from "../helpers.ts";

beforeEach(async () => {
  await reset();
  await sandbox("/__sandbox/reset", {});
  await sandbox("/__sandbox/config", { rowsPerMinute: 600_000, queueMs: 5 });
});

describe("operators' routes", () => {
  test("every admin route needs the admin key: no key, an ingest key or a wrong key is 401", async () => {
    for (const path of ["/v1/status", "/v1/admin/set-aside", "/v1/admin/set-aside/export"]) {
      expect((await call(path)).status, path).toBe(401);
      expect((await call(path, { headers: { Authorization: `Bearer ${KEY}` } })).status, path).toBe(
        401,
      );
      expect((await call(path, { headers: { Authorization: "Bearer nope" } })).status, path).toBe(401);
    }
    const redrive = await call("/v1/admin/set-aside/redrive", {
      method: "POST",
      headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
      body: '{"all":true}',
    });
    expect(redrive.status).toBe(401);
  });

  test("a malformed Authorization header is the documented 401 with a challenge, never a 400", async () => {
    for (
      const authorization of [
        "Bearer",
        "Bearer ",
        `Bearer ${ADMIN_KEY} extra`,
        "Bearer tökén",
        `Basic ${btoa(`x:${ADMIN_KEY}`)}`,
        "Token",
      ]
    ) {
      const response = await call("/v1/status", { headers: { Authorization: authorization } });
      expect(response.status, authorization).toBe(401);
      expect(response.headers.get("WWW-Authenticate"), authorization).toMatch(/^Bearer realm="/);
      expect(await response.json()).toEqual({ error: "unauthorized" });
    }
  });

  test("rows set aside are listed in pages with their values, and exported as NDJSON", async () => {
    await setAside(["a", "b", "c"]);
    const first = await (await admin("/v1/admin/set-aside?limit=2")).json() as {
      rows: { seq: number; id: string; row: unknown; reason: string }[];
      next: number | null;
      total: number;
    };
    expect(first.total).toBe(3);
    expect(first.rows.map((r) => r.id)).toEqual(["a", "b"]);
    expect(first.rows[0]!.row).toEqual({ user_id: "a", metadata: { n: 0 } });
    const second = await (await admin(`/v1/admin/set-aside?limit=2&after=${first.next}`)).json() as {
      rows: { id: string }[];
      next: number | null;
    };
    expect(second.rows.map((r) => r.id)).toEqual(["c"]);
    expect(second.next).toBeNull();
    const exported = await admin("/v1/admin/set-aside/export");
    expect(exported.headers.get("Content-Type")).toBe("application/x-ndjson");
    const lines = (await exported.text()).trim().split("\n").map((line) => JSON.parse(line));
    expect(lines.map((line) => line.id)).toEqual(["a", "b", "c"]);
    expect(lines[2]).toMatchObject({ kind: "users", row: { user_id: "c" }, reason: expect.any(String) });
    expect((await admin("/v1/admin/set-aside?limit=0")).status).toBe(400);
    // One kind of entry alone: rows of users here; none of the refused events or deletes.
    const kinds = async (kind: string) =>
      ((await (await admin(`/v1/admin/set-aside?kind=${kind}`)).json()) as { rows: { id: string }[] }).rows
        .map((r) => r.id);
    expect(await kinds("users")).toEqual(["a", "b", "c"]);
    expect(await kinds("deletions")).toEqual([]);
    expect(await kinds("events")).toEqual([]);
    expect((await admin("/v1/admin/set-aside?kind=rows")).status).toBe(400);
  });

  test("a redrive puts selected rows back, and they are delivered; a purge deletes others for good", async () => {
    await setAside(["keep1", "keep2", "drop"]);
    const listed = await (await admin("/v1/admin/set-aside")).json() as {
      rows: { seq: number; id: string }[];
    };
    const seq = (id: string) => listed.rows.find((r) => r.id === id)!.seq;
    expect(await (await admin("/v1/admin/set-aside/redrive", { seqs: [seq("keep1"), seq("keep2")] })).json())
      .toEqual({ redriven: 2 });
    expect(await (await admin("/v1/admin/set-aside/purge", { seqs: [seq("drop")] })).json()).toEqual({
      purged: 1,
    });
    const status = await drained();
    expect(status.setAside.count).toBe(0);
    expect(await sandbox("/__sandbox/users/keep1")).toEqual({ user_id: "keep1", metadata: { n: 0 } });
    expect(await sandbox("/__sandbox/users/keep2")).toEqual({ user_id: "keep2", metadata: { n: 1 } });
    expect((await admin("/v1/admin/set-aside/redrive", { seqs: [] })).status).toBe(400);
    expect((await admin("/v1/admin/set-aside/purge", { everything: true })).status).toBe(400);
  });

  test("a redrive or purge of more rows than one batch takes every row selected, and counts them truly", async () => {
    // Selections of 2,500 rows: more than the 1,000 one transaction takes, so each runs in batches.
    await setAside(Array.from({ length: 5_000 }, (_, i) => `bulk-${i}`));
    const seqs = (await (await deliveryStub()).listSetAside({ limit: 5_000 })).rows.map((row) => row.seq);
    const purged = await admin("/v1/admin/set-aside/purge", { seqs: seqs.slice(0, 2_500) });
    expect(await purged.json()).toEqual({ purged: 2_500 });
    expect((await (await deliveryStub()).status()).setAside.count).toBe(2_500);
    // A selection naming some rows twice, or rows already gone, counts what it acted on.
    const again = [...seqs.slice(2_000, 2_500), ...seqs.slice(2_500), seqs[2_500]!];
    const redriven = await admin("/v1/admin/set-aside/redrive", { seqs: again });
    expect(await redriven.json()).toEqual({ redriven: 2_500 });
    expect((await (await deliveryStub()).status()).setAside.count).toBe(0);
  });
});

describe("read-only admin keys", () => {
  const viewer = (path: string, body?: unknown) =>
    call(path, {
      method: body === undefined ? "GET" : "POST",
      headers: { Authorization: `Bearer ${TEST_KEYS.viewer}`, "Content-Type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body),
    });

  test("read the status, the list and the export, and are refused redrive, purge and forget (403, nothing changed)", async () => {
    await setAside(["a", "b"]);
    expect((await viewer("/v1/status")).status).toBe(200);
    expect(((await (await viewer("/v1/admin/set-aside")).json()) as { total: number }).total).toBe(2);
    expect((await (await viewer("/v1/admin/set-aside/export")).text()).trim().split("\n")).toHaveLength(2);
    for (
      const [path, body] of [
        ["/v1/admin/set-aside/redrive", { all: true }],
        ["/v1/admin/set-aside/purge", { all: true }],
        ["/v1/admin/fingerprints/forget", { all: true }],
      ] as const
    ) {
      const refused = await viewer(path, body);
      expect(refused.status, path).toBe(403);
      expect(await refused.json()).toEqual({
        error: "forbidden",
        message: "the admin key viewer is read-only: redrive, purge and forget need a full key",
      });
    }
    expect((await (await deliveryStub()).status()).setAside.count).toBe(2);
  });
});

describe("bodies are refused as on every JSON route", () => {
  const route = "/v1/admin/set-aside/redrive";
  const send = (body: string, type = "application/json") =>
    call(route, {
      method: "POST",
      headers: { Authorization: `Bearer ${ADMIN_KEY}`, "Content-Type": type },
      body,
    });

  test("415, invalid_json and a schema's refusal take the write routes' shapes, issueCount included", async () => {
    const writeRefusal = await (await post("/v1/users/bulk_identify", { users: [{ user_id: 7 }] })).json();
    const adminRefusal = await (await send(JSON.stringify({ seqs: [0, "x"] }))).json() as Record<
      string,
      unknown
    >;
    expect(Object.keys(adminRefusal).sort()).toEqual(Object.keys(writeRefusal as object).sort());
    expect(adminRefusal).toMatchObject({ error: "invalid_request", issueCount: expect.any(Number) });
    expect((adminRefusal["issues"] as unknown[]).length).toBeGreaterThan(0);
    const wrongType = await send("{}", "text/plain");
    expect(wrongType.status).toBe(415);
    const writeWrongType = await call("/v1/users/bulk_identify", {
      method: "POST",
      headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "text/plain" },
      body: "{}",
    });
    expect(await wrongType.json()).toEqual(await writeWrongType.json());
    const broken = await send("{");
    expect(broken.status).toBe(400);
    expect(await broken.json()).toEqual({
      error: "invalid_json",
      message: "the body is not valid UTF-8 JSON",
    });
    const query = await (await admin("/v1/admin/set-aside?limit=0")).json();
    expect(query).toMatchObject({ error: "invalid_request", issues: [{ path: "limit" }], issueCount: 1 });
  });
});

describe("misconfiguration is loud", () => {
  const broken = [
    ["a pasted Token prefix", "Token sandbox-api-key", /starts with "Token "/],
    ["a trailing newline", "sandbox-api-key\n", /whitespace/],
    ["a non-ASCII character", "sandbox-api-kéy", /cannot be sent in an HTTP header/],
  ] as const;

  for (const [name, key, problem] of broken) {
    test(`an API key with ${name} is named in /health's 503 to an admin key, never quoted`, async () => {
      const response = await createApp().fetch(
        new Request("https://ingest.example.com/health", {
          headers: { Authorization: `Bearer ${ADMIN_KEY}` },
        }),
        { ...env, USERPILOT_API_KEY: key },
        createExecutionContext(),
      );
      expect(response.status).toBe(503);
      const body = await response.json() as { problems: string[] };
      expect(body.problems).toEqual([expect.stringMatching(problem)]);
      expect(body.problems[0]).toMatch(/^USERPILOT_API_KEY /);
      expect(JSON.stringify(body)).not.toContain("sandbox-api-k");
    });
  }

  test("every setting is checked: numbers, lists, and keys shared between callers and operators", () => {
    const read = readSettings({
      ...env,
      POLL_INTERVAL_MS: "soon",
      BACKOFF_MAX_MS: "-1",
      ADMIN_KEYS: KEY,
      USERPILOT_BASE_URL: "ftp://example.com",
    });
    expect(read.ok).toBe(false);
    const problems = (read as { problems: string[] }).problems.join("\n");
    expect(problems).toMatch(/POLL_INTERVAL_MS must be a positive number/);
    expect(problems).toMatch(/BACKOFF_MAX_MS must be a positive number/);
    expect(problems).toMatch(/USERPILOT_BASE_URL/);
    expect(problems).toMatch(/both ADMIN_KEYS and INGEST_KEYS/);
  });

  test("with unusable settings the alarm records the problem in lastError and retries with backoff", async () => {
    const stub = await deliveryStub();
    await stub.enqueue([{ kind: "users", receivedAt: Date.now(), rows: [{ user_id: "waits" }] }]);
    // The backoff has full jitter: without a fixed draw it could be a few ms, already past when
    // the status is read on a loaded machine.
    const random = vi.spyOn(Math, "random").mockReturnValue(0.5);
    await runInDurableObject(stub, async (_, state) => {
      // The backoff is the tuning the env sets (the tests' 10 ms base is too short to read back).
      const object = new DeliveryObject(state, {
        ...env,
        USERPILOT_API_KEY: "Token sandbox-api-key",
        BACKOFF_BASE_MS: "60000",
        BACKOFF_MAX_MS: "600000",
      });
      await object.alarm();
      random.mockRestore();
      const status = object.status();
      expect(status.lastError?.message).toMatch(/^settings: USERPILOT_API_KEY starts with "Token "/);
      expect(status.backingOffUntil).not.toBeNull();
      expect(status.pending.users).toBe(1);
      expect(await state.storage.getAlarm()).toBeGreaterThan(Date.now());
    });
  });
});
