import { reset, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import { BUCKET_MINUTES, historyOf } from "../../../src/worker/admin/history.ts";
import { DeliveryStore } from "../../../src/worker/store/index.ts";
import { type Sample, SAMPLE_MINUTES } from "../../../src/worker/store/samples.ts";
import { deliveryStub, drained, post, sandbox } from "../helpers.ts";

/** A Durable Object of its own for each test, so no alarm or other test touches its store. */
function isolated(name: string) {
  return env.DELIVERY.get(env.DELIVERY.idFromName(`samples-test:${name}`));
}

const MINUTE = 60_000;
const T0 = 1_800_000_000_000; // a whole minute

describe("Samples", () => {
  test("one write a minute at most: later calls in the minute neither observe nor write", async () => {
    await runInDurableObject(isolated("once"), (_, state) => {
      const store = new DeliveryStore(state.storage, Date.now());
      let observed = 0;
      const observe = () => ({ pending: 10 + observed++, delivered: 0 });
      for (let second = 0; second < 60; second++) store.samples.record(T0 + second * 1000, observe);
      expect(observed).toBe(1);
      store.samples.record(T0 + MINUTE, observe);
      expect(observed).toBe(2);
      expect(store.samples.list(T0 + MINUTE)).toEqual([
        { minute: T0 / MINUTE, pending: 10, delivered: 0 },
        { minute: T0 / MINUTE + 1, pending: 11, delivered: 0 },
      ]);
    });
  });

  test("going idle rewrites the minute's sample once, only when the state changed", async () => {
    await runInDurableObject(isolated("final"), (_, state) => {
      const store = new DeliveryStore(state.storage, Date.now());
      store.samples.record(T0, () => ({ pending: 500, delivered: 0 }));
      let observed = 0;
      const drainedNow = () => (observed++, { pending: 0, delivered: 500 });
      store.samples.record(T0 + 40_000, drainedNow, true);
      store.samples.record(T0 + 50_000, drainedNow, true);
      expect(store.samples.list(T0 + 50_000)).toEqual([{ minute: T0 / MINUTE, pending: 0, delivered: 500 }]);
      expect(observed).toBe(2); // the second call observed, found no change, and wrote nothing
    });
  });

  test("three days of minutes keep 24 hours plus the sample the window opened with", async () => {
    await runInDurableObject(isolated("bounded"), (_, state) => {
      const store = new DeliveryStore(state.storage, Date.now());
      for (let minute = 0; minute < 3 * SAMPLE_MINUTES; minute++) {
        store.samples.record(T0 + minute * MINUTE, () => ({ pending: minute, delivered: minute }));
      }
      const rows = state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM samples").one().n;
      expect(rows).toBe(SAMPLE_MINUTES + 1);
      const now = T0 + (3 * SAMPLE_MINUTES - 1) * MINUTE;
      const listed = store.samples.list(now);
      expect(listed).toHaveLength(SAMPLE_MINUTES + 1);
      expect(listed[0]!.minute).toBe(now / MINUTE - SAMPLE_MINUTES);
    });
  });

  test("after a long idle stretch the window still opens with the state it was left in", async () => {
    await runInDurableObject(isolated("idle"), (_, state) => {
      const store = new DeliveryStore(state.storage, Date.now());
      store.samples.record(T0, () => ({ pending: 7, delivered: 3 }));
      store.samples.record(T0 + 3 * SAMPLE_MINUTES * MINUTE, () => ({ pending: 8, delivered: 3 }));
      const now = T0 + 3 * SAMPLE_MINUTES * MINUTE;
      const listed = store.samples.list(now);
      expect(listed.map((sample) => sample.pending)).toEqual([7, 8]);
      const { points } = historyOf(listed, now / MINUTE);
      expect(points[0]!.backlog).toBe(7);
      expect(points.at(-1)!.backlog).toBe(8);
    });
  });
});

describe("historyOf", () => {
  const now = 100_000;
  const at = (ago: number, pending: number, delivered: number): Sample => ({
    minute: now - ago,
    pending,
    delivered,
  });

  test("carries each sample forward, counts each minute's rise in delivered rows, and never a fall", () => {
    const samples = [at(20, 1_000, 0), at(10, 400, 600), at(9, 400, 550), at(0, 0, 1_550)];
    const { points, hours } = historyOf(samples, now);
    expect(points).toHaveLength(SAMPLE_MINUTES / BUCKET_MINUTES);
    expect(points.slice(0, -5).every((point) => point.backlog === null || point.minute >= now - 20)).toBe(
      true,
    );
    const last = points.slice(-5);
    // Minutes now-24..now-20 hold nothing and then 1,000 pending; now-19..now-15 still 1,000.
    expect(last.map((point) => point.backlog)).toEqual([1_000, 1_000, 1_000, 400, 400]);
    // The rise of 600 at now-10 and the 1,000 at now; the fall at now-9 counts as nothing.
    expect(last.map((point) => point.deliveredPerMinute)).toEqual([null, 0, 600 / 5, 0, 1_000 / 5]);
    expect(hours.at(-1)).toEqual({ minute: now - 59, backlog: 0, delivered: 1_600 });
    expect(hours[0]).toEqual({ minute: now - SAMPLE_MINUTES + 1, backlog: null, delivered: null });
  });

  test("an empty history is all gaps", () => {
    const { points } = historyOf([], now);
    expect(points.every((point) => point.backlog === null && point.deliveredPerMinute === null)).toBe(true);
  });
});

describe("the delivery object samples itself", () => {
  test("after a drain, the page's history ends with an empty backlog and every row delivered", async () => {
    await reset();
    await sandbox("/__sandbox/reset", {});
    for (let i = 0; i < 5; i++) expect((await post("/v1/identify", { user_id: `s${i}` })).status).toBe(202);
    const status = await drained(20_000, 5);
    expect(status.rowsDelivered).toBe(5);
    const stub = await deliveryStub();
    const { history } = await stub.overview({ limit: 10 });
    expect(history.at(-1)).toMatchObject({ pending: 0, delivered: 5 });
    // The alarm that went idle left the same state in SQLite, for when nobody is looking.
    await runInDurableObject(stub, (_, state) => {
      const stored = state.storage.sql
        .exec<{ pending: number; delivered: number }>(
          "SELECT pending, delivered FROM samples ORDER BY minute DESC LIMIT 1",
        )
        .one();
      expect(stored).toEqual({ pending: 0, delivered: 5 });
    });
  });
});
