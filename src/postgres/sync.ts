/**
 * `syncFromPostgres`: one call that streams a query's rows into the core's bulk call and says,
 * by id, which rows did not go.
 * @module
 */
import type { Sql } from "postgres";
import type {
  BulkIdentifyOptions,
  BulkIdentifyResult,
  BulkKind,
  BulkProgress,
  CompanyInput,
  RowIssue,
  UserInput,
  UserpilotClient,
} from "../../mod.ts";
import { PositionMap } from "../core/position-map.ts";
import { resolveMaxIssues } from "../core/validate-rows.ts";
import { KeyTrail } from "./key-trail.ts";
import { type PostgresPosition, type ReadPostgresOptions, readPostgresRows } from "./source.ts";

/** Where an interrupted sync stopped, and how to learn where it gets to. */
export interface PostgresSyncState {
  /** Go on from here: the last position `onCheckpoint` was given. Absent: from the first id. */
  readonly position?: PostgresPosition | undefined;
  /**
   * Called each time every row before a later id is settled (delivered, rejected or set aside),
   * with where a later sync may go on; awaited in order before the sync resolves.
   */
  readonly onCheckpoint?: ((position: PostgresPosition) => void | Promise<void>) | undefined;
}

/** Options of {@link syncFromPostgres}. */
export interface SyncFromPostgresOptions
  extends Omit<BulkIdentifyOptions, "strict">, Omit<ReadPostgresOptions, "kind" | "from" | "signal"> {
  /** A postgres.js (4.2 or later) instance; one of its connections is reserved while the sync reads. */
  readonly sql: Sql;
  /** One SELECT; its rows are read in the order of the id column, so an ORDER BY of its own is not needed. */
  readonly query: string;
  /** `"users"` (default) or `"companies"`. */
  readonly kind?: BulkKind | undefined;
  readonly client: UserpilotClient;
  /** Resume an interrupted sync, and keep track of where this one gets to. */
  readonly state?: PostgresSyncState | undefined;
}

/** A row that was not delivered: its place among the rows this call read (from 0), its id, why. */
export interface PostgresSyncIssue extends RowIssue {
  /** The id's text; `null` for a NULL id. */
  readonly id: string | null;
}

/** What {@link syncFromPostgres} resolves to: the bulk calls' result, rows named by id. */
export interface PostgresSyncResult extends BulkIdentifyResult {
  /** Rows not delivered, in query order (the first `maxIssues`): refused on reading, by validation, or set aside. */
  readonly rejected: PostgresSyncIssue[];
  /** Rows the query returned (from `state.position` on). */
  readonly rows: number;
  /** After the last row: a sync given it sends only rows with a later id. */
  readonly position: PostgresPosition | undefined;
}

/**
 * Sync the rows of a PostgreSQL query to Userpilot: read through a server-side cursor in id order
 * (see {@link readPostgresRows} for the types and `NULL`), validated, merged and sent one window
 * at a time by the client's bulk call, so memory stays flat whatever the table's size. Rows that
 * cannot be sent are in `rejected`, with their id; none is dropped silently. With `state`, a
 * stopped sync goes on after the last id whose rows were all settled.
 *
 * @example
 * ```ts
 * import postgres from "postgres";
 * import { UserpilotClient } from "userpilot-bulk";
 * import { syncFromPostgres } from "userpilot-bulk/postgres";
 *
 * const sql = postgres(process.env.DATABASE_URL!);
 * const client = UserpilotClient.fromEnv(process.env);
 * const { jobs, rejected } = await syncFromPostgres({
 *   sql,
 *   client,
 *   query: "select id::text as user_id, plan, seats, trial_ends_at from accounts",
 * });
 * for (const issue of rejected) console.warn(`id ${issue.id}: ${issue.path} ${issue.message}`);
 * await sql.end();
 * ```
 */
export async function syncFromPostgres(options: SyncFromPostgresOptions): Promise<PostgresSyncResult> {
  const { sql, query, client, state, kind = "users", onProgress, ...rest } = options;
  const maxIssues = resolveMaxIssues(options.maxIssues);
  const trail = new KeyTrail();
  const places = new PositionMap();
  const rejected: PostgresSyncIssue[] = [];
  let issueCount = 0;
  const keep = (issue: PostgresSyncIssue): void => {
    issueCount++;
    if (rejected.length < maxIssues) rejected.push(issue);
  };
  let read = 0;
  let index = 0;
  const records = readPostgresRows(sql, query, {
    ...rest,
    kind,
    from: state?.position,
    signal: options.signal,
  });
  async function* rows(): AsyncGenerator<UserInput | CompanyInput> {
    for await (const record of records) {
      read++;
      if ("issues" in record) {
        for (const issue of record.issues) keep({ index: record.at - 1, id: record.key, ...issue });
        continue;
      }
      places.note(index, record.at);
      trail.note(index++, record.key as string);
      yield record.row;
    }
  }
  // The core's issues are named while their rows are still in the trail: as their window is read,
  // or as they are set aside.
  const named = (issue: RowIssue): PostgresSyncIssue => ({
    ...issue,
    index: places.at(issue.index) - 1,
    id: trail.key(issue.index) ?? null,
  });
  let position = state?.position;
  let saving = Promise.resolve();
  const moveTo = (checkpoint: number, ended = false): void => {
    const next = trail.positionAt(checkpoint, ended);
    if (next === undefined || (next.after === position?.after && next.inclusive === position.inclusive)) {
      return;
    }
    position = next;
    const save = state?.onCheckpoint;
    if (save !== undefined) saving = saving.then(() => save(next));
  };
  const call: BulkIdentifyOptions = {
    ...rest,
    maxIssues: 0, // every issue is kept here, from the events, named by id
    onProgress: (event: BulkProgress) => {
      if (event.type === "read") event.rejected.forEach((issue) => keep(named(issue)));
      if (event.type === "set-aside") keep(named(event.issue));
      if (event.type === "completed" || event.type === "set-aside") moveTo(event.totals.checkpoint);
      onProgress?.(event);
    },
  };
  const result = kind === "users"
    ? await client.bulkIdentifyUsers(rows() as AsyncIterable<UserInput>, call)
    : await client.bulkIdentifyCompanies(rows() as AsyncIterable<CompanyInput>, call);
  moveTo(index, true);
  await saving;
  rejected.sort((a, b) => a.index - b.index);
  return { jobs: result.jobs, rejected, issueCount, rows: read, position };
}
