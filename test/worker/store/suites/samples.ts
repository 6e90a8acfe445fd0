import { describe, expect, test } from "vitest";
import { DeliveryStore } from "../../../../src/worker/store/index.ts";
import { SAMPLE_MINUTES } from "../../../../src/worker/store/samples.ts";
import type { InStore } from "./support.ts";

const MINUTE = 60_000;
const T0 = 1_800_000_000_000; // a whole minute

/** The suite, on stores `inStore` opens. */
export function samplesSuite(inStore: InStore): void {
  describe("Samples", () => {
    test("one write a minute at most: later calls in the minute neither observe nor write", async () => {
      await inStore("once", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
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
      await inStore("final", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.samples.record(T0, () => ({ pending: 500, delivered: 0 }));
        let observed = 0;
        const drainedNow = () => (observed++, { pending: 0, delivered: 500 });
        store.samples.record(T0 + 40_000, drainedNow, true);
        store.samples.record(T0 + 50_000, drainedNow, true);
        expect(store.samples.list(T0 + 50_000)).toEqual([{
          minute: T0 / MINUTE,
          pending: 0,
          delivered: 500,
        }]);
        expect(observed).toBe(2); // the second call observed, found no change, and wrote nothing
      });
    });

    test("three days of minutes keep 24 hours plus the sample the window opened with", async () => {
      await inStore("bounded", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        for (let minute = 0; minute < 3 * SAMPLE_MINUTES; minute++) {
          store.samples.record(T0 + minute * MINUTE, () => ({ pending: minute, delivered: minute }));
        }
        const rows = storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM samples").one().n;
        expect(rows).toBe(SAMPLE_MINUTES + 1);
        const now = T0 + (3 * SAMPLE_MINUTES - 1) * MINUTE;
        const listed = store.samples.list(now);
        expect(listed).toHaveLength(SAMPLE_MINUTES + 1);
        expect(listed[0]!.minute).toBe(now / MINUTE - SAMPLE_MINUTES);
      });
    });

    test("after a long idle stretch the window still opens with the state it was left in", async () => {
      await inStore("idle", (storage) => {
        const store = new DeliveryStore(storage, Date.now());
        store.samples.record(T0, () => ({ pending: 7, delivered: 3 }));
        store.samples.record(T0 + 3 * SAMPLE_MINUTES * MINUTE, () => ({ pending: 8, delivered: 3 }));
        const now = T0 + 3 * SAMPLE_MINUTES * MINUTE;
        const listed = store.samples.list(now);
        expect(listed.map((sample) => sample.pending)).toEqual([7, 8]);
      });
    });
  });
}
