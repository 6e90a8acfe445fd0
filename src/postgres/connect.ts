/**
 * Opening a connection from a connection string, with the driver loaded only here: `postgres` is
 * an optional peer dependency, so a package that never syncs from PostgreSQL never needs it.
 * @module
 */
import type { Options, Sql } from "postgres";
import { PostgresSourceError, redacted } from "./errors.ts";

/** Options of {@link connectPostgres}: postgres.js's own, over the ones a sync needs. */
export type ConnectPostgresOptions = Options<Record<string, never>>;

/** The driver's module, loaded on first use. */
type Driver = (url: string, options: ConnectPostgresOptions) => Sql;

const INSTALL = "npm install postgres@^4.2.0 (deno add npm:postgres, bun add postgres)";

async function loadDriver(): Promise<Driver> {
  try {
    return (await import("postgres")).default as unknown as Driver;
  } catch (error) {
    throw new PostgresSourceError(
      `syncing from PostgreSQL needs the package "postgres" (postgres.js 4.2 or later), an optional peer dependency of userpilot-bulk that is not installed: ${INSTALL}`,
      { cause: error },
    );
  }
}

/**
 * A postgres.js instance for a connection string (`postgres://user:password@host:5432/db`, with
 * TLS settings such as `?sslmode=require` passed through), holding at most one connection, quiet
 * about server notices. Nothing connects until the first query. A string that is not a PostgreSQL
 * URL throws {@link PostgresSourceError} without quoting it (it may hold a password).
 *
 * @example
 * ```ts
 * const sql = await connectPostgres(process.env.DATABASE_URL!);
 * await syncFromPostgres({ sql, client, query: "select id::text as user_id, plan from accounts" });
 * await sql.end();
 * ```
 */
export async function connectPostgres(url: string, options: ConnectPostgresOptions = {}): Promise<Sql> {
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    // reported below
  }
  if (protocol !== "postgres:" && protocol !== "postgresql:") {
    throw new PostgresSourceError(
      "the connection string is not a PostgreSQL URL (postgres://user:password@host:5432/database)",
    );
  }
  const postgres = await loadDriver();
  try {
    return postgres(url, {
      max: 1,
      connect_timeout: 15,
      onnotice: () => {},
      connection: { application_name: "userpilot-bulk" },
      ...options,
    });
  } catch (error) {
    throw new PostgresSourceError(
      `the connection string cannot be used: ${redacted(String((error as Error)?.message), url)}`,
      { cause: error },
    );
  }
}
