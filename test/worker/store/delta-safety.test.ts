import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { deltaSafetySuite } from "./suites/delta-safety.ts";

// The suite in workerd, each test on a Durable Object of its own (test/sim/ runs it on SQLite in Node).
deltaSafetySuite((name, fn) =>
  runInDurableObject(
    env.DELIVERY.get(env.DELIVERY.idFromName(`delta-safety:${name}`)),
    (_, state) => fn(state.storage),
  )
);
