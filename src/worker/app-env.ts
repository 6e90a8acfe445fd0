import type { Env } from "./env.ts";
import type { Settings } from "./settings.ts";

/** Hono's environment for the ingestion app: bindings, and the settings read once per request. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    settings: Settings;
    /** The signature a signed request was accepted with, so a 503 can release it for the retry. */
    signature?: string;
  };
}
