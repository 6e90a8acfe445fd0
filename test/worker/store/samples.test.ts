import { reset, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import { deliveryStub, drained, post, sandbox } from "../helpers.ts";
import { samplesSuite } from "./suites/samples.ts";

// The suite in workerd, each test on a Durable Object of its own (test/sim/ runs it on SQLite in Node).
samplesSuite((name, fn) =>
  runInDurableObject(
    env.DELIVERY.get(env.DELIVERY.idFromName(`samples:${name}`)),
    (_, state) => fn(state.storage),
  )
);

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
