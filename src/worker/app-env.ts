/** Hono's environment for the Worker's app, shared by the ingest and admin rooms. @module */
import type { Env } from "./env.ts";
import type { Settings } from "./settings.ts";

/** Hono's environment for the ingestion app: bindings, and the settings read once per request. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    settings: Settings;
    /** A signed request's verified `webhook-id`: the id its write is applied once under. */
    webhookId?: string;
    /** The id the write is applied once under (`requestIdOf`); `undefined` for none. */
    requestId?: string | undefined;
  };
}
