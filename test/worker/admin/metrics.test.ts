import { reset } from "cloudflare:test";
import { beforeEach, describe, expect, test } from "vitest";
import type { DeliveryStatus } from "../../../src/worker/delivery/index.ts";
import { parseMetrics, valueOf } from "../metrics-text.ts";
import {
  ADMIN_KEY,
  call,
  deliveryStub,
  drained,
  eventually,
  FAST_USERPILOT,
  KEY,
  post,
  restart,
  sandbox,
  setAside,
  TEST_KEYS,
} from "../helpers.ts";

beforeEach(async () => {
  await reset();
  await sandbox("/__sandbox/reset", {});
  await sandbox("/__sandbox/config", FAST_USERPILOT);
});

const P = "userpilot_ingest_";

const read = (path: string, key = ADMIN_KEY) => call(path, { headers: { Authorization: `Bearer ${key}` } });

/** The body as text (workerd warns on `.text()` of a type it does not know as text). */
const textOf = async (response: Response) => new TextDecoder().decode(await response.arrayBuffer());

type SandboxStats = { requests: number; statuses: Record<string, number> };

/** Wait (bounded) until the object's status passes `check`. */
const statusWhere = async (check: (status: DeliveryStatus) => boolean) => {
  const stub = await deliveryStub();
  return await eventually(() => stub.status(), check);
};

describe("GET /metrics", () => {
  test("is refused without an admin key (none, an ingest key, a wrong one); a read-only admin key is enough", async () => {
    for (const key of [undefined, KEY, "nope"]) {
      const response = await call(
        "/metrics",
        key === undefined ? {} : { headers: { Authorization: `Bearer ${key}` } },
      );
      expect(response.status, String(key)).toBe(401);
      expect(await textOf(response)).not.toContain(P);
    }
    const viewer = await read("/metrics", TEST_KEYS.viewer);
    expect(viewer.status).toBe(200);
    expect(viewer.headers.get("Content-Type")).toBe(
      "application/openmetrics-text; version=1.0.0; charset=utf-8",
    );
    expect(viewer.headers.get("Cache-Control")).toBe("no-store");
  });

  test("after rows, events and deletes went through the sandbox (and some failures), its counters are /v1/status's", async () => {
    // Userpilot down (5xx), then rate limiting (429), then failing jobs, then well: each seen at least once.
    await sandbox("/__sandbox/faults", { rate5xx: 1 });
    expect((await post("/v1/users/bulk_identify", { users: [{ user_id: "u1", metadata: { n: 1 } }] })).status)
      .toBe(202);
    await statusWhere((status) => status.userpilotAnswers["5xx"] > 0);
    await sandbox("/__sandbox/faults", { rate429: 1, retryAfterSeconds: 0 });
    await statusWhere((status) => status.userpilotAnswers["4xx"] > 0);
    await sandbox("/__sandbox/faults", { jobFailureRate: 1 });
    await statusWhere((status) => status.jobsFailed > 0);
    await sandbox("/__sandbox/faults", {});
    await post("/v1/users/bulk_identify", {
      users: [{ user_id: "u1", metadata: { n: 2 } }, { user_id: "u2", metadata: { n: 2 } }],
    });
    await post("/v1/companies/bulk_identify", { companies: [{ company_id: "c1", metadata: { size: 3 } }] });
    await post("/v1/track", { user_id: "u2", event_name: "signed_up" });
    const deleted = await call("/v1/users", {
      method: "DELETE",
      headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ users: ["gone"] }),
    });
    expect(deleted.status).toBe(202);
    await drained(20_000, 4);
    await setAside(["aside"]);

    // A quiet moment: the status is the same before and after the scrape.
    const before = await (await read("/v1/status")).json() as DeliveryStatus;
    const scraped = await read("/metrics");
    const after = await (await read("/v1/status")).json() as DeliveryStatus;
    expect(after).toEqual(before);
    const text = await textOf(scraped);
    expect(text.endsWith("# EOF\n")).toBe(true);
    const metrics = parseMetrics(text);
    const status = before;
    const counters: [string, Record<string, string>, number][] = [
      ["rows_received_total", {}, status.rowsReceived],
      ["rows_delivered_total", {}, status.rowsDelivered],
      ["rows_unchanged_total", {}, status.rowsUnchanged],
      ["set_aside_total", {}, status.setAside.total],
      ["jobs_completed_total", {}, status.jobsCompleted],
      ["jobs_failed_total", {}, status.jobsFailed],
      ["events_received_total", {}, status.events.received],
      ["events_sent_total", {}, status.events.sent],
      ["deletes_sent_total", {}, status.deletions.sent],
      ["userpilot_responses_total", { class: "2xx" }, status.userpilotAnswers["2xx"]],
      ["userpilot_responses_total", { class: "4xx" }, status.userpilotAnswers["4xx"]],
      ["userpilot_responses_total", { class: "5xx" }, status.userpilotAnswers["5xx"]],
      ["userpilot_responses_total", { class: "network_error" }, status.userpilotAnswers.networkError],
      ["set_aside_entries", {}, status.setAside.count],
      ["rows_pending", { kind: "users", lane: "fresh" }, 0],
      ["events_pending", {}, 0],
      ["deletes_pending", {}, 0],
      ["oldest_pending_age_seconds", {}, 0],
    ];
    for (const [name, labels, value] of counters) {
      expect(valueOf(metrics, P + name, labels), name).toBe(value);
    }
    // What was done, as counted: 4 rows, 1 event and 1 delete in; all of it out; the row set aside.
    expect(status).toMatchObject({
      rowsReceived: 4,
      events: { received: 1, sent: 1 },
      deletions: { sent: 1 },
      setAside: { count: 1, total: 1 },
    });
    expect(status.rowsDelivered).toBeGreaterThanOrEqual(3);
    expect(status.jobsCompleted).toBeGreaterThanOrEqual(2);
    expect(status.jobsFailed).toBeGreaterThanOrEqual(1);
    // Every answer the sandbox gave, by class, is one the object counted: no more, no fewer.
    const stats = await sandbox<SandboxStats>("/__sandbox/stats");
    const byClass = (digit: string) =>
      Object.entries(stats.statuses).filter(([code]) => code.startsWith(digit)).reduce(
        (sum, [, n]) => sum + n,
        0,
      );
    expect(status.userpilotAnswers).toEqual({
      "2xx": byClass("2"),
      "3xx": 0,
      "4xx": byClass("4"),
      "5xx": byClass("5"),
      networkError: 0,
    });
    expect(status.userpilotAnswers["4xx"] + status.userpilotAnswers["5xx"]).toBeGreaterThanOrEqual(2);
    expect(byClass("")).toBe(stats.requests);

    // Counters live in the object's SQLite: a restart keeps every one of them.
    await restart(await deliveryStub());
    const again = parseMetrics(await textOf(await read("/metrics")));
    for (const [name, labels, value] of counters) expect(valueOf(again, P + name, labels), name).toBe(value);
  });

  test("pending rows show by kind and lane, with the oldest one's age in seconds", async () => {
    await sandbox("/__sandbox/faults", { rate5xx: 1 });
    await post("/v1/companies/bulk_identify", { companies: [{ company_id: "c1" }, { company_id: "c2" }] });
    const status = await statusWhere((s) => s.pending.companies === 2);
    const metrics = parseMetrics(await textOf(await read("/metrics")));
    await sandbox("/__sandbox/faults", {});
    expect(valueOf(metrics, `${P}rows_pending`, { kind: "companies", lane: "fresh" })).toBe(
      status.pendingByLane.companies.fresh,
    );
    expect(
      valueOf(metrics, `${P}rows_pending`, { kind: "companies", lane: "fresh" }) +
        valueOf(metrics, `${P}rows_pending`, { kind: "companies", lane: "suspect" }),
    ).toBe(2);
    expect(valueOf(metrics, `${P}rows_pending`, { kind: "users", lane: "fresh" })).toBe(0);
    expect(valueOf(metrics, `${P}oldest_pending_age_seconds`)).toBeGreaterThan(0);
  });
});
