/**
 * The part of a Durable Object's SQLite storage the delivery store and the replay guard use:
 * workerd's `SqlStorage` (`exec`, its cursor, `databaseSize`) and `transactionSync`. They take
 * this, not the Durable Object, so they also run in Node over real SQLite (the simulator's
 * adapter implements the same subset).
 * @module
 */

/** A value SQLite hands back: workerd's `SqlStorageValue`. */
export type SqlValue = ArrayBuffer | string | number | null;

/** What `exec` returns: the rows, and how many were written. */
export interface SqlCursor<T> extends Iterable<T> {
  toArray(): T[];
  /** The one row; throws unless there is exactly one. */
  one(): T;
  readonly rowsWritten: number;
}

/** `ctx.storage.sql`, as far as the stores use it. */
export interface Sql {
  exec<T extends Record<string, SqlValue>>(query: string, ...bindings: unknown[]): SqlCursor<T>;
  /** The database's size in bytes, as SQLite reports it. */
  readonly databaseSize: number;
}

/** `ctx.storage`, as far as the stores use it. */
export interface SqlStorageLike {
  readonly sql: Sql;
  transactionSync<T>(closure: () => T): T;
}
