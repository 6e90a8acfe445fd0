/**
 * The command line of a sync from PostgreSQL (`--from-postgres`, `--query`, `--query-file`,
 * `--id-column`, `--company-column`, `--nulls`), checked. The connection string is a secret: no
 * message here quotes it.
 * @module
 */
import type { BulkKind } from "../../mod.ts";
import type { NullMeaning } from "../postgres/mod.ts";
import { UsageError } from "./errors.ts";

/** A sync from PostgreSQL, as the command line asks for it. */
export interface PostgresInput {
  /** The connection string: never printed. */
  readonly url: string;
  /** `--query`, the SQL itself, or `undefined` with `--query-file`. */
  readonly query: string | undefined;
  /** `--query-file`: where the SQL is. */
  readonly queryFile: string | undefined;
  readonly idColumn: string | undefined;
  readonly companyColumn: string | undefined;
  readonly nulls: NullMeaning;
}

/** The flags this file reads, as `parseArgs` gives them. */
export interface PostgresFlags {
  readonly "from-postgres"?: string | undefined;
  readonly query?: string | undefined;
  readonly "query-file"?: string | undefined;
  readonly "id-column"?: string | undefined;
  readonly "company-column"?: string | undefined;
  readonly nulls?: string | undefined;
  readonly format?: string | undefined;
  readonly types?: readonly string[] | undefined;
  readonly "empty-as-null"?: boolean | undefined;
  readonly delimiter?: string | undefined;
}

const ONLY_WITH_POSTGRES = ["query", "query-file", "id-column", "company-column", "nulls"] as const;
const FILE_ONLY = ["format", "types", "empty-as-null", "delimiter"] as const;

/**
 * `--from-postgres URL` (or `env:NAME`, to read the URL from the environment variable NAME and
 * keep it out of the process list and shell history), with `--query SQL` or `--query-file FILE`;
 * `undefined` when the run reads a file. Throws {@link UsageError} for anything wrong.
 *
 * @example
 * ```ts
 * postgresInput({ "from-postgres": "env:DATABASE_URL", query: "select …" }, "users", undefined, env);
 * ```
 */
export function postgresInput(
  values: PostgresFlags,
  kind: BulkKind,
  file: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): PostgresInput | undefined {
  const from = values["from-postgres"];
  if (from === undefined) {
    const stray = ONLY_WITH_POSTGRES.find((flag) => values[flag] !== undefined);
    if (stray !== undefined) throw new UsageError(`--${stray} applies to --from-postgres only`);
    return undefined;
  }
  if (file !== undefined) {
    throw new UsageError("--from-postgres reads the rows from PostgreSQL: give it no input file");
  }
  const fileFlag = FILE_ONLY.find((flag) => values[flag] !== undefined);
  if (fileFlag !== undefined) {
    throw new UsageError(`--${fileFlag} applies to file input, not --from-postgres`);
  }
  let url = from;
  if (from.startsWith("env:")) {
    const name = from.slice(4);
    url = env[name] ?? "";
    if (url === "") {
      throw new UsageError(`--from-postgres ${from}: the environment variable ${name} is not set`);
    }
  }
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new UsageError(
      "--from-postgres takes a PostgreSQL URL (postgres://user:password@host:5432/database) or env:NAME, " +
        "the name of an environment variable holding one",
    );
  }
  const { query, "query-file": queryFile } = values;
  if ((query === undefined) === (queryFile === undefined)) {
    throw new UsageError("--from-postgres needs the SQL: --query SQL or --query-file FILE (one of them)");
  }
  if (query !== undefined && query.trim() === "") throw new UsageError("--query is empty");
  if (kind === "companies" && values["company-column"] !== undefined) {
    throw new UsageError("--company-column applies to users only (a company row's id is its company)");
  }
  const nulls = values.nulls ?? "clear";
  if (nulls !== "clear" && nulls !== "untouched") throw new UsageError("--nulls must be clear or untouched");
  return {
    url,
    query,
    queryFile,
    idColumn: values["id-column"],
    companyColumn: values["company-column"],
    nulls,
  };
}
