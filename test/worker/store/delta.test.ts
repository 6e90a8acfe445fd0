import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { deltaStoreSuite } from "./suites/delta.ts";

// The suite in workerd, each test on a Durable Object of its own (test/sim/ runs it on SQLite in Node).
deltaStoreSuite((name, fn) =>
  runInDurableObject(
    env.DELIVERY.get(env.DELIVERY.idFromName(`delta:${name}`)),
    (_, state) => fn(state.storage),
  )
);
