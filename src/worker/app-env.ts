/** Hono's environment for the Worker's app, shared by the ingest and admin rooms. @module */
import type { Env } from "./env.ts";
import type { Settings } from "./settings.ts";

/** Who made an authenticated request: the credential's name (never its secret) and what it may do. */
export interface Caller {
  /** The credential's name from the settings (a bare key's is its position, `ingest-key-2`). */
  readonly name: string;
  readonly scopes: readonly string[];
}

/** Hono's environment for the ingestion app: bindings, and the settings read once per request. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    settings: Settings;
    /** The authenticated caller (ingest or admin), once its credential is checked. */
    credential?: Caller;
    /** A signed request's verified `webhook-id`: the id its write is applied once under. */
    webhookId?: string;
    /** The id the write is applied once under (`requestIdOf`); `undefined` for none. */
    requestId?: string | undefined;
    /** The operator's page's CSP nonce for this response (`admin/page-headers.ts`). */
    nonce?: string;
  };
}
