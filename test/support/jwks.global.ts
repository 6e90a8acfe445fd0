/**
 * Global setup of the workerd tests: a Cloudflare Access key endpoint on 127.0.0.1
 * (test/support/jwks-server.ts), whose origin the Access tests configure as the team domain.
 */
import type { TestProject } from "vitest/node";
import { startJwksServer } from "./jwks-server.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** The local Access key endpoint's origin (`http://127.0.0.1:<port>`). */
    accessJwksOrigin: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startJwksServer();
  project.provide("accessJwksOrigin", server.origin);
  return () => server.close();
}
