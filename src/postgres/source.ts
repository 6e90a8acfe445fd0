/**
 * A query's rows as user or company rows, streamed from a server-side cursor in batches, in the
 * order of their id, so that a sync can stop anywhere and go on after the last id it settled. If
 * the connection is lost mid-stream, it reconnects and goes on after the last id it handed out.
 * @module
 */
import type { Sql } from "postgres";
import type { BulkKind, CompanyInput, UserInput } from "../../mod.ts";
import { type ColumnNames, type ColumnPlan, planColumns, type TypeInfo, typesToLookUp } from "./columns.ts";
import { describeDriverError, isConnectionLoss, PostgresSourceError } from "./errors.ts";

/**
 * Where a sync goes on: after the row whose id has this text (as PostgreSQL writes the id
 * column), or from it with `inclusive` (when that id's rows straddled the point where the last run
 * stopped: they go again, which Userpilot's merge makes harmless).
 */
export interface PostgresPosition {
  readonly after: string;
  readonly inclusive?: boolean | undefined;
}

/** A problem found while reading a row, before the core's schemas see it. Never holds the value. */
export interface PostgresRowIssue {
  /** `user_id`, `metadata.<column>`. */
  readonly path: string;
  readonly message: string;
}

/**
 * One row of the query: `at` is its 1-based place among the rows this call read, `key` its id's
 * text (`null` when the id is NULL); then the row, or why it cannot be sent.
 */
export type PostgresRecord =
  | { readonly at: number; readonly key: string | null; readonly row: UserInput | CompanyInput }
  | { readonly at: number; readonly key: string | null; readonly issues: readonly PostgresRowIssue[] };

/** What SQL `NULL` in a property column means. */
export type NullMeaning = "clear" | "untouched";

/** Options of {@link readPostgresRows}. */
export interface ReadPostgresOptions extends ColumnNames {
  readonly kind: BulkKind;
  /**
   * `"clear"` (default): a `NULL` is sent as `null`, which removes the property at Userpilot, so
   * Userpilot holds what the query says. `"untouched"`: the property is left out, and Userpilot
   * keeps what it had.
   */
  readonly nulls?: NullMeaning | undefined;
  /** Go on from here (a stopped sync's checkpoint). */
  readonly from?: PostgresPosition | undefined;
  /** Rows a fetch from the cursor (default 1,000). */
  readonly batchRows?: number | undefined;
  /** Reconnections after a lost connection before giving up (default 3), each after a pause. */
  readonly reconnects?: number | undefined;
  /** Base pause before a reconnection, doubled each time (default 500 ms). */
  readonly reconnectDelayMs?: number | undefined;
  /** Cancels the query. */
  readonly signal?: AbortSignal | undefined;
  /** Told of each reconnection, with why (never a value or the connection string). */
  readonly onReconnect?: ((attempt: number, reason: string) => void) | undefined;
}

const DEFAULT_BATCH_ROWS = 1000;
const DEFAULT_RECONNECTS = 3;
const DEFAULT_RECONNECT_DELAY_MS = 500;
const ALIAS = "userpilot_source";

/** The query as written, without the trailing semicolons a wrapper cannot take. */
function queryText(query: string): string {
  const text = query.replace(/[\s;]+$/, "");
  if (text.trim() === "") throw new PostgresSourceError("the query is empty");
  return text;
}

const quoted = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Ask the server what the query returns, without running it: bad SQL fails here, by its place in the query. */
async function describeQuery(sql: Sql, text: string): Promise<{ name: string; type: number }[]> {
  let columns: readonly { name: string; type: number }[] | undefined;
  try {
    columns = (await sql.unsafe(text).transform(false).describe()).columns;
  } catch (error) {
    throw new PostgresSourceError(describeDriverError(error, text), { cause: error });
  }
  if (columns === undefined || columns.length === 0) {
    throw new PostgresSourceError(
      "the query returns no columns: it must be a SELECT (or VALUES, or a WITH … SELECT)",
    );
  }
  return columns.map((column) => ({ name: column.name, type: column.type }));
}

async function lookUpTypes(sql: Sql, oids: number[]): Promise<Map<number, TypeInfo>> {
  try {
    const rows = await sql.unsafe<{ oid: number; name: string; category: string }[]>(
      "select oid::int as oid, format_type(oid, null) as name, typcategory as category from pg_type where oid = any($1::oid[])",
      [oids],
    ).transform(false);
    return new Map(rows.map((row) => [row.oid, { name: row.name, category: row.category }]));
  } catch (error) {
    throw new PostgresSourceError(describeDriverError(error), { cause: error });
  }
}

/** Where the next query starts: from the beginning, after an id, or among the rows with no id. */
type Continuation =
  | { readonly kind: "start" }
  | { readonly kind: "after"; readonly key: string; readonly inclusive: boolean }
  | { readonly kind: "nulls"; readonly skip: number };

/** The query wrapped to go in id order from a continuation, and its parameters. */
function keysetQuery(text: string, idColumn: string, from: Continuation): { text: string; params: string[] } {
  const id = `${ALIAS}.${quoted(idColumn)}`;
  // The query on lines of its own: a trailing -- comment in it ends at its line.
  const source = `select * from (\n${text}\n) as ${ALIAS}`;
  switch (from.kind) {
    case "start":
      return { text: `${source} order by ${id}`, params: [] };
    case "after":
      return {
        text: `${source} where ${id} ${from.inclusive ? ">=" : ">"} $1 or ${id} is null order by ${id}`,
        params: [from.key],
      };
    case "nulls":
      // Rows with no id come last and are all refused alike: which ones were read does not matter.
      return { text: `${source} where ${id} is null offset $1`, params: [String(from.skip)] };
  }
}

/** One row's values (the server's text, `null` for NULL) as a record. */
function toRecord(
  values: readonly (string | null)[],
  plan: ColumnPlan,
  options: ReadPostgresOptions & { readonly idName: string },
  at: number,
): PostgresRecord {
  const key = values[plan.id] ?? null;
  const idField = options.kind === "users" ? "user_id" : "company_id";
  if (key === null) {
    return { at, key, issues: [{ path: idField, message: `is NULL (column "${options.idName}")` }] };
  }
  const metadata: Record<string, string | number | boolean | null> = {};
  const issues: PostgresRowIssue[] = [];
  for (const property of plan.properties) {
    const text = values[property.index] ?? null;
    if (text === null) {
      if (options.nulls !== "untouched") metadata[property.name] = null;
      continue;
    }
    const value = property.read(text);
    if (value !== null && typeof value === "object" && "problem" in value) {
      issues.push({ path: `metadata.${property.name}`, message: value.problem });
    } else {
      metadata[property.name] = value as string | number | boolean;
    }
  }
  if (issues.length > 0) return { at, key, issues };
  const company = plan.company === undefined ? null : values[plan.company] ?? null;
  const row = options.kind === "companies"
    ? { company_id: key, metadata }
    : company === null
    ? { user_id: key, metadata }
    : { user_id: key, company_id: company, metadata };
  return { at, key, row };
}

const pause = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

/**
 * Stream a query's rows as user (or company) rows, in the order of their id: the query is
 * checked first (bad SQL fails with PostgreSQL's message and where in the query it is; columns
 * no row could send fail by name), then read through a server-side cursor, `batchRows` rows a
 * fetch, in one read-only transaction (`TimeZone` UTC, `DateStyle` ISO), on one connection
 * reserved from `sql`. Rows whose values cannot be properties (a `bigint` beyond 2^53, `NaN`, an
 * infinite date, a NULL id) come as records with their issues, never dropped. Rows sharing an
 * id are handed out together, so that if the connection is lost the stream goes on after the
 * last id handed out (up to `reconnects` times), with nothing read twice or missed.
 *
 * @example
 * ```ts
 * for await (const record of readPostgresRows(sql, "select id as user_id, plan from users", { kind: "users" })) {
 *   if ("row" in record) console.log(record.row);
 *   else console.warn(`row ${record.at} (id ${record.key}):`, record.issues);
 * }
 * ```
 */
export async function* readPostgresRows(
  sql: Sql,
  query: string,
  options: ReadPostgresOptions,
): AsyncGenerator<PostgresRecord> {
  const text = queryText(query);
  const columns = await describeQuery(sql, text);
  const plan = planColumns(columns, await lookUpTypes(sql, typesToLookUp(columns)), options);
  const idName = columns[plan.id]!.name;
  const settings = { ...options, idName };
  let from: Continuation = options.from === undefined
    ? { kind: "start" }
    : { kind: "after", key: options.from.after, inclusive: options.from.inclusive ?? false };
  let handedOut = 0;
  let nulls = 0;
  let failures = 0;
  for (;;) {
    // Rows of the id being read wait here until the next id shows up: a lost connection then
    // costs them, not a row half of whose id went.
    let group: (readonly (string | null)[])[] = [];
    let groupKey: string | null = null;
    /** The held rows, as records; from now on the stream goes on after their id. */
    const hand = (): PostgresRecord[] => {
      const records = group.map((values) => toRecord(values, plan, settings, ++handedOut));
      if (groupKey !== null) from = { kind: "after", key: groupKey, inclusive: false };
      group = [];
      return records;
    };
    const reserved = await sql.reserve().catch((error: unknown) => {
      const reason = describeDriverError(error);
      throw new PostgresSourceError(
        failures === 0
          ? reason
          : `reading the query's rows failed: reconnecting after a lost connection: ${reason}`,
        { cause: error },
      );
    });
    let open = false;
    try {
      await reserved.unsafe("begin transaction read only");
      open = true;
      await reserved.unsafe(
        "select set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true), " +
          "set_config('extra_float_digits', '1', true)",
      );
      const wrapped = keysetQuery(text, idName, from);
      const cursor = reserved.unsafe(wrapped.text, wrapped.params)
        .values().parsers(() => null).transform(false).signal(options.signal)
        .cursor(options.batchRows ?? DEFAULT_BATCH_ROWS) as AsyncIterable<(string | null)[][]>;
      for await (const batch of cursor) {
        for (const values of batch) {
          const key = values[plan.id] ?? null;
          if (key === null) {
            // No id: nothing to keep together; refused one by one.
            for (const record of hand()) yield record;
            nulls++;
            from = { kind: "nulls", skip: nulls };
            yield toRecord(values, plan, settings, ++handedOut);
            continue;
          }
          if (group.length > 0 && key !== groupKey) {
            for (const record of hand()) yield record;
          }
          groupKey = key;
          group.push(values);
        }
        failures = 0;
      }
      for (const record of hand()) yield record;
      await reserved.unsafe("commit");
      open = false;
      return;
    } catch (error) {
      if (error instanceof PostgresSourceError) throw error;
      if (options.signal?.aborted) throw options.signal.reason;
      const reason = describeDriverError(error, undefined, true);
      const attempts = options.reconnects ?? DEFAULT_RECONNECTS;
      if (!isConnectionLoss(error) || failures >= attempts) {
        const after = isConnectionLoss(error) ? ` (after ${failures} reconnection(s))` : "";
        throw new PostgresSourceError(`reading the query's rows failed: ${reason}${after}`, { cause: error });
      }
      failures++;
      options.onReconnect?.(failures, reason);
      await pause(
        (options.reconnectDelayMs ?? DEFAULT_RECONNECT_DELAY_MS) * 2 ** (failures - 1),
        options.signal,
      );
    } finally {
      if (open) await reserved.unsafe("rollback").catch(() => {});
      reserved.release();
    }
  }
}
