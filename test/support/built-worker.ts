/**
 * A Worker bundle that `wrangler deploy --dry-run --outdir` wrote, loaded in Miniflare with the
 * bindings `wrangler.toml` declares and no compatibility flags: how the tests run what would be
 * uploaded, rather than the source.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { COMPATIBILITY_DATE } from "./compatibility-date.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Build the Worker of the project in `cwd` (its wrangler.toml, or its environment `env`) into
 * `outdir`, offline. Returns what wrangler printed (the bindings it would upload).
 */
export function buildWorker(cwd: string, outdir: string, env?: string): string {
  const args = ["deploy", "--dry-run", "--outdir", outdir, ...(env === undefined ? [] : ["--env", env])];
  return execFileSync(join(ROOT, "node_modules/.bin/wrangler"), args, {
    cwd,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    stdio: "pipe",
    encoding: "utf8",
  });
}

/**
 * The bundle in `outdir` in Miniflare, with these settings as bindings. Written in Miniflare 4's
 * one-Worker options, which Miniflare 5 converts itself (its own options describe a whole
 * deployment: workers, triggers, an `env` of typed bindings).
 */
export function loadBuiltWorker(outdir: string, bindings: Record<string, string>): Miniflare {
  return new Miniflare(convertV4MiniflareOptions({
    modules: true,
    scriptPath: join(outdir, "index.js"),
    modulesRoot: outdir,
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: [],
    bindings,
    queueProducers: { INGEST_QUEUE: { queueName: "userpilot-ingest" } },
    queueConsumers: { "userpilot-ingest": { maxBatchTimeout: 0.05 } },
    durableObjects: {
      DELIVERY: { className: "DeliveryObject", useSQLite: true },
      REPLAY_GUARD: { className: "ReplayGuard", useSQLite: true },
    },
  }));
}
