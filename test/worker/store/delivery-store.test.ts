import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { deliveryStoreSuite } from "./suites/delivery-store.ts";

// The suite in workerd, each test on a Durable Object of its own (test/sim/ runs it on SQLite in Node).
deliveryStoreSuite((name, fn) =>
  runInDurableObject(
    env.DELIVERY.get(env.DELIVERY.idFromName(`delivery-store:${name}`)),
    (_, state) => fn(state.storage),
  )
);
