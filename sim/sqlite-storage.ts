/**
 * workerd's SQLite storage API (the subset in `src/worker/sql.ts`) over real SQLite in Node
 * (`node:sqlite`, Node 22.5+), so the delivery store and the replay guard run outside workerd.
 * The same store suites run on both (test/worker/store/ in workerd, test/sim/ here), so the two
 * cannot drift apart unnoticed.
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import process from "node:process";
import type { Sql, SqlCursor, SqlStorageLike, SqlValue } from "../src/worker/sql.ts";

type Row = Record<string, SqlValue>;

/** What SQLite hands back as workerd does: a BLOB as an `ArrayBuffer`, a plain object per row. */
function rowOf(raw: Record<string, unknown>): Row {
  const row: Row = {};
  for (const key in raw) {
    const value = raw[key];
    row[key] = value instanceof Uint8Array
      ? value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength) as ArrayBuffer
      : (value as SqlValue);
  }
  return row;
}

/** What a binding becomes: an `ArrayBuffer` as a BLOB, a boolean as 0 or 1 (workerd refuses neither). */
function bindingOf(value: unknown): unknown {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (typeof value === "boolean") return value ? 1 : 0;
  return value;
}

class Cursor<T> implements SqlCursor<T> {
  readonly #rows: T[];
  readonly rowsWritten: number;

  constructor(rows: T[], rowsWritten: number) {
    this.#rows = rows;
    this.rowsWritten = rowsWritten;
  }

  toArray(): T[] {
    return this.#rows;
  }

  one(): T {
    if (this.#rows.length !== 1) {
      throw new Error(`Expected exactly one result from SQL query, but got ${this.#rows.length}.`);
    }
    return this.#rows[0]!;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.#rows[Symbol.iterator]();
  }
}

/** Time per statement, when `SIM_SQL_PROFILE=1` (printed by the simulator's CLI). */
export const SQL_PROFILE: Map<string, { calls: number; ms: number }> | undefined =
  process.env["SIM_SQL_PROFILE"] === "1" ? new Map() : undefined;

type Prepared = { readonly statement: StatementSync; readonly rows: boolean; readonly writes: boolean };

const WRITES = /^\s*(?:WITH\b[\s\S]*?\)\s*)?(?:INSERT|UPDATE|DELETE|REPLACE)\b/i;

/** One SQLite database with workerd's `ctx.storage` shape. */
export class SqliteStorage implements SqlStorageLike {
  readonly sql: Sql;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, Prepared>();
  #depth = 0;

  /** `path`: a file, or `:memory:` (the default). */
  constructor(path = ":memory:") {
    const db = new DatabaseSync(path);
    this.#db = db;
    const changes = db.prepare("SELECT changes() AS n");
    // Per query text, prepared once: the statement, whether it returns rows, whether it writes.
    const statement = (query: string): Prepared => {
      let prepared = this.#statements.get(query);
      if (prepared === undefined) {
        const compiled = db.prepare(query);
        prepared = { statement: compiled, rows: compiled.columns().length > 0, writes: WRITES.test(query) };
        this.#statements.set(query, prepared);
      }
      return prepared;
    };
    const pageCount = db.prepare("PRAGMA page_count");
    const pageSize = db.prepare("PRAGMA page_size");
    this.sql = {
      exec<T extends Record<string, SqlValue>>(query: string, ...bindings: unknown[]): SqlCursor<T> {
        if (SQL_PROFILE !== undefined) {
          const started = performance.now();
          try {
            return run<T>(query, bindings);
          } finally {
            const entry = SQL_PROFILE.get(query) ?? { calls: 0, ms: 0 };
            entry.calls++;
            entry.ms += performance.now() - started;
            SQL_PROFILE.set(query, entry);
          }
        }
        return run<T>(query, bindings);
      },
      get databaseSize(): number {
        const pages = (pageCount.get() as { page_count: number }).page_count;
        const size = (pageSize.get() as { page_size: number }).page_size;
        return pages * size;
      },
    };
    const run = <T>(query: string, bindings: unknown[]): SqlCursor<T> => {
      const prepared = statement(query);
      const values = bindings.map(bindingOf) as never[];
      if (!prepared.rows) {
        const { changes: written } = prepared.statement.run(...values);
        return new Cursor<T>([], Number(written));
      }
      const rows = prepared.statement.all(...values).map((raw) => rowOf(raw as Record<string, unknown>) as T);
      const written = prepared.writes ? Number((changes.get() as { n: number }).n) : 0;
      return new Cursor<T>(rows, written);
    };
  }

  /** Run `closure` as one transaction (a savepoint when nested, as workerd does): all of it, or none. */
  transactionSync<T>(closure: () => T): T {
    const name = `tx${this.#depth}`;
    this.#db.exec(`SAVEPOINT ${name}`);
    this.#depth++;
    try {
      const result = closure();
      this.#depth--;
      this.#db.exec(`RELEASE ${name}`);
      return result;
    } catch (error) {
      this.#depth--;
      this.#db.exec(`ROLLBACK TO ${name}`);
      this.#db.exec(`RELEASE ${name}`);
      throw error;
    }
  }

  /** Close the database. */
  close(): void {
    this.#db.close();
  }
}
