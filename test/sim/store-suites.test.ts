import { describe } from "vitest";
import { deliveryStoreSuite } from "../worker/store/suites/delivery-store.ts";
import { deltaSafetySuite } from "../worker/store/suites/delta-safety.ts";
import { deltaStoreSuite } from "../worker/store/suites/delta.ts";
import { samplesSuite } from "../worker/store/suites/samples.ts";
import type { InStore } from "../worker/store/suites/support.ts";
import { HAS_SQLITE } from "./sqlite.ts";

// The store suites that run in workerd (test/worker/store/), here on real SQLite in Node through
// the simulator's adapter: if the adapter drifted from workerd's SqlStorage, one side would fail.
describe.runIf(HAS_SQLITE)("the delivery store on SQLite in Node", async () => {
  const { SqliteStorage } = await import("../../sim/sqlite-storage.ts");
  const inStore: InStore = async (_name, fn) => {
    const storage = new SqliteStorage();
    try {
      await fn(storage);
    } finally {
      storage.close();
    }
  };
  deliveryStoreSuite(inStore);
  deltaStoreSuite(inStore);
  deltaSafetySuite(inStore);
  samplesSuite(inStore);
});
