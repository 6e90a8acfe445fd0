/**
 * Global setup of the PostgreSQL tests: one throwaway server for every file (each seeds tables of
 * its own), stopped when they are done.
 */
import type { TestProject } from "vitest/node";
import { startPostgres } from "../support/postgres.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** The test role's URL, password included. */
    postgresUrl: string;
    /** The superuser's URL to the same database (to end other sessions). */
    postgresAdminUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const server = await startPostgres();
  project.provide("postgresUrl", server.url);
  project.provide("postgresAdminUrl", server.adminUrl);
  return () => server.stop();
}
