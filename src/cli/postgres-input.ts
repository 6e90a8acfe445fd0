/**
 * `--from-postgres`: the query's rows as the CLI's input records, read in id order through the
 * PostgreSQL source (src/postgres), told where to start before the first row is read.
 * @module
 */
import { readFileSync } from "node:fs";
import type { BulkKind } from "../../mod.ts";
import { connectPostgres, KeyTrail, type PostgresPosition, readPostgresRows } from "../postgres/mod.ts";
import type { PostgresInput } from "./args.ts";
import { InputError } from "./errors.ts";
import type { Progress } from "./progress.ts";
import type { InputRecord } from "./readers/index.ts";
import type { KeyedSource } from "./rows.ts";

/** The query, opened: its records (read on first use), the ids of the latest rows, and how to close it. */
export interface PostgresSource extends KeyedSource {
  /** The SQL, from `--query` or `--query-file`. */
  readonly query: string;
  readonly records: AsyncIterable<InputRecord>;
  /** End the connection. */
  close(): Promise<void>;
}

/**
 * Open the query of `--from-postgres` (nothing connects until the first row is read). A lost
 * connection is told as a note, and the source goes on after the last id it read.
 *
 * @example
 * ```ts
 * const source = await openPostgres(options.postgres, { kind: "users", signal, progress });
 * const stream = new RowStream(source.records, undefined, source);
 * ```
 */
export async function openPostgres(
  input: PostgresInput,
  context: { readonly kind: BulkKind; readonly signal: AbortSignal; readonly progress: Progress },
): Promise<PostgresSource> {
  let query = input.query;
  if (query === undefined) {
    try {
      query = readFileSync(input.queryFile as string, "utf8");
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new InputError(
        `cannot read --query-file ${input.queryFile}: ${
          code === "ENOENT" ? "no such file" : code ?? "read error"
        }`,
      );
    }
  }
  const sql = await connectPostgres(input.url);
  const keys = new KeyTrail();
  let from: PostgresPosition | undefined;
  const text = query;
  // Opened when first read, so that it starts where the run was told to (`startAt`).
  const records: AsyncIterable<InputRecord> = {
    [Symbol.asyncIterator]: () =>
      readPostgresRows(sql, text, {
        kind: context.kind,
        idColumn: input.idColumn,
        companyColumn: input.companyColumn,
        nulls: input.nulls,
        from,
        signal: context.signal,
        onReconnect: (attempt, reason) =>
          context.progress.note(
            `lost the connection to PostgreSQL (${reason}); reconnecting (attempt ${attempt}) to read on after the last id read`,
          ),
      })[Symbol.asyncIterator](),
  };
  return {
    query,
    records,
    keys,
    startAt: (position) => {
      from = position;
    },
    close: () => sql.end({ timeout: 2 }),
  };
}
