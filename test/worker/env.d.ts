import type { Env as WorkerEnv } from "../../src/worker/env.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** `TEST_SEED` of the run, or "" (see test/support/seed.ts). */
    testSeedOverride: string;
    /** The local Cloudflare Access key endpoint's origin (test/support/jwks.global.ts). */
    accessJwksOrigin: string;
  }
}

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {}
    interface GlobalProps {
      mainModule: typeof import("../../src/worker/index.ts");
    }
  }
}
