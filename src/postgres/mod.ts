/**
 * Sync straight from PostgreSQL: a query's rows streamed through a server-side cursor, in id order,
 * into the core's bulk calls, with every row that cannot go named by its id. Built on the
 * `postgres` package (postgres.js 4.2 or later, an optional peer dependency: install it to use
 * this module), which runs on Node, Deno and Bun.
 *
 * @example
 * ```ts
 * import postgres from "postgres";
 * import { UserpilotClient } from "userpilot-bulk";
 * import { syncFromPostgres } from "userpilot-bulk/postgres";
 *
 * const sql = postgres(process.env.DATABASE_URL!);
 * const result = await syncFromPostgres({
 *   sql,
 *   client: UserpilotClient.fromEnv(process.env),
 *   query: "select id::text as user_id, plan, seats from accounts",
 * });
 * await sql.end();
 * ```
 * @module
 */
export { connectPostgres, type ConnectPostgresOptions } from "./connect.ts";
export { PostgresSourceError } from "./errors.ts";
export { KeyTrail } from "./key-trail.ts";
export {
  type NullMeaning,
  type PostgresPosition,
  type PostgresRecord,
  type PostgresRowIssue,
  type ReadPostgresOptions,
  readPostgresRows,
} from "./source.ts";
export {
  type PostgresSyncIssue,
  type PostgresSyncResult,
  type PostgresSyncState,
  syncFromPostgres,
  type SyncFromPostgresOptions,
} from "./sync.ts";
