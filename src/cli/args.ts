import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { type BulkKind, MAX_ROWS_PER_REQUEST, normalizeBaseUrl, type RetryOptions } from "../../mod.ts";
import { DEFAULT_RESEND_AFTER_HOURS } from "../core/fingerprint.ts";
import { DEFAULT_POLL_INTERVAL_MS } from "../core/poll.ts";
import { UsageError } from "./errors.ts";
import { type PostgresInput, postgresInput } from "./postgres-args.ts";

export type { PostgresInput } from "./postgres-args.ts";

/**
 * The largest record a reader holds by default (`--max-record-bytes`): 16 MiB, far above any row
 * Userpilot takes (the core's limits allow about 2 MB), so only a runaway record (an unclosed
 * quote, a missing line break) reaches it, and it cannot take the rest of a file into memory.
 */
export const DEFAULT_MAX_RECORD_BYTES: number = 16 * 1024 * 1024;

/** The input formats the CLI reads (a `.tsv` file is CSV separated by tabs). */
export type InputFormat = "ndjson" | "json" | "csv";

/** CSV field separators `--delimiter` accepts. */
export type CsvDelimiter = "," | ";" | "\t";

/** How a CSV column's cells are typed (`--types col=TYPE`). */
export type ColumnType = "string" | "number" | "boolean" | "date";

/** Everything a run needs, parsed and checked. */
export interface CliOptions {
  readonly kind: BulkKind;
  /** A file path, or `-` for standard input; `""` with `--from-postgres`. */
  readonly input: string;
  /** The file's format (`ndjson`, unused, with `--from-postgres`). */
  readonly format: InputFormat;
  /** `--from-postgres`: the rows come from this query instead of a file. */
  readonly postgres: PostgresInput | undefined;
  /** CSV column types; columns not named are strings. */
  readonly columnTypes: ReadonlyMap<string, ColumnType>;
  readonly emptyAsNull: boolean;
  /** CSV only: the field separator. */
  readonly delimiter: CsvDelimiter;
  /** `--max-record-bytes`: the longest record a reader holds; a longer one is rejected and skipped. */
  readonly maxRecordBytes: number;
  readonly report: string | undefined;
  readonly maxRows: number;
  readonly json: boolean;
  readonly dryRun: boolean;
  readonly upload: boolean;
  readonly resume: string | undefined;
  /** `--state FILE`: what the last completed run delivered, per id; only changed rows go. */
  readonly state: string | undefined;
  /** `--full`: send every row whatever `--state` says (and record them). */
  readonly full: boolean;
  /** `--resend-after-hours`: a `--state` whose last full send began longer ago sends every row. */
  readonly resendAfterHours: number;
  /** As given (`us`, `eu` or a URL); checked with the core's `normalizeBaseUrl`. */
  readonly baseUrl: string | undefined;
  /** Send through this ingestion endpoint (the gateway) instead of to Userpilot directly. */
  readonly ingestUrl: string | undefined;
  readonly pollIntervalMs: number;
  readonly timeoutMs: number | undefined;
  readonly retry: RetryOptions;
}

/** What the command line asked for: help, the version, or a run. */
export type ParsedArgs =
  | { readonly help: true }
  | { readonly version: true }
  | { readonly help: false; readonly options: CliOptions };

const COLUMN_TYPES: readonly ColumnType[] = ["string", "number", "boolean", "date"];

const FLAGS = {
  format: { type: "string" },
  types: { type: "string", multiple: true },
  "empty-as-null": { type: "boolean" },
  report: { type: "string" },
  "max-rows": { type: "string" },
  json: { type: "boolean" },
  "dry-run": { type: "boolean" },
  upload: { type: "boolean" },
  resume: { type: "string" },
  state: { type: "string" },
  full: { type: "boolean" },
  "resend-after-hours": { type: "string" },
  "base-url": { type: "string" },
  "ingest-url": { type: "string" },
  "poll-interval": { type: "string" },
  "retry-delay": { type: "string" },
  "max-attempts": { type: "string" },
  "job-attempts": { type: "string" },
  timeout: { type: "string" },
  delimiter: { type: "string" },
  "from-postgres": { type: "string" },
  query: { type: "string" },
  "query-file": { type: "string" },
  "id-column": { type: "string" },
  "company-column": { type: "string" },
  nulls: { type: "string" },
  "max-record-bytes": { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

function wholeNumber(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw new UsageError(`--${flag} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** Whether a URL's host is this machine: `localhost` (and its subdomains), 127.0.0.0/8, `[::1]`. */
const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname.endsWith(".localhost") || hostname === "[::1]" ||
  /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);

/** `--types a=number,b=date --types c=boolean` as one map; a column typed twice is an error. */
export function parseColumnTypes(specs: readonly string[]): Map<string, ColumnType> {
  const types = new Map<string, ColumnType>();
  for (const spec of specs.flatMap((text) => text.split(","))) {
    const at = spec.lastIndexOf("=");
    const column = spec.slice(0, at).trim();
    const type = spec.slice(at + 1).trim().toLowerCase() as ColumnType;
    if (at <= 0 || column === "" || !COLUMN_TYPES.includes(type)) {
      throw new UsageError(`--types takes COLUMN=TYPE with TYPE one of ${COLUMN_TYPES.join(", ")}`);
    }
    if (types.has(column) && types.get(column) !== type) {
      throw new UsageError(`--types gives column "${column}" two types`);
    }
    types.set(column, type);
  }
  return types;
}

/** The format as `--format` or the file's extension names it: `tsv` is kept apart, for its delimiter. */
function namedFormat(input: string, flag: string | undefined): InputFormat | "tsv" {
  if (flag !== undefined) {
    const format = flag.toLowerCase() === "jsonl" ? "ndjson" : flag.toLowerCase();
    if (format !== "ndjson" && format !== "json" && format !== "csv" && format !== "tsv") {
      throw new UsageError("--format must be ndjson, json, csv or tsv");
    }
    return format;
  }
  if (input === "-") return "ndjson";
  // A compressed file names its format before `.gz`: users.csv.gz is CSV.
  const extension = /\.([^./\\]+)$/.exec(input.replace(/\.gz$/i, ""))?.[1]?.toLowerCase();
  if (extension === "ndjson" || extension === "jsonl") return "ndjson";
  if (extension === "json" || extension === "csv" || extension === "tsv") return extension;
  throw new UsageError(`cannot tell the format of ${input} from its extension; pass --format`);
}

/** The format named by `--format`, else by the file's extension; standard input defaults to NDJSON. */
export function formatOf(input: string, flag: string | undefined): InputFormat {
  const format = namedFormat(input, flag);
  return format === "tsv" ? "csv" : format;
}

/**
 * The CSV field separator: `--delimiter` (`,` `;` or a tab, written `tab`, `\t` or as the
 * character itself), else a tab for `.tsv` input or `--format tsv`, else a comma.
 */
export function delimiterOf(
  input: string,
  formatFlag: string | undefined,
  flag: string | undefined,
): CsvDelimiter {
  if (flag === undefined) return namedFormat(input, formatFlag) === "tsv" ? "\t" : ",";
  if (flag === "," || flag === ";") return flag;
  if (flag === "\t" || flag === "\\t" || flag.toLowerCase() === "tab") return "\t";
  throw new UsageError("--delimiter must be , or ; or tab (also written \\t)");
}

/**
 * Parse the command line (without the runtime and script names) into checked options.
 * Throws {@link UsageError} with a one-line message for anything wrong.
 *
 * @example
 * ```ts
 * const parsed = parseCliArgs(["users", "users.csv", "--types", "seats=number"], process.env);
 * if ("options" in parsed) console.log(parsed.options.format); // "csv"
 * ```
 */
export function parseCliArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: FLAGS, allowPositionals: true, strict: true });
  } catch (error) {
    // Node's messages run on with advice about "--"; the first sentence is the useful part.
    const message = error instanceof Error ? error.message.split(/\.\s/)[0] : "invalid arguments";
    throw new UsageError(message ?? "invalid arguments");
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (values.version) return { version: true };

  const [kind, input, ...extra] = positionals;
  if (kind !== "users" && kind !== "companies") {
    throw new UsageError(kind === undefined ? "say users or companies" : `unknown command "${kind}"`);
  }
  if (extra.length > 0) throw new UsageError("one input file at a time");
  const postgres = postgresInput(values, kind, input, env);
  if (postgres !== undefined) return { help: false, options: checked(kind, "", postgres, values, env) };
  if (input === undefined) {
    throw new UsageError(`${kind} needs a file, - for standard input, or --from-postgres`);
  }
  return { help: false, options: checked(kind, input, undefined, values, env) };
}

/** Every option checked, for a file (or standard input) or a query (`postgres`). */
function checked(
  kind: BulkKind,
  input: string,
  postgres: PostgresInput | undefined,
  values: ReturnType<typeof parseArgs<{ options: typeof FLAGS }>>["values"],
  env: Readonly<Record<string, string | undefined>>,
): CliOptions {
  const format = postgres === undefined ? formatOf(input, values.format) : "ndjson";
  const columnTypes = parseColumnTypes(values.types ?? []);
  const emptyAsNull = values["empty-as-null"] ?? false;
  if (format !== "csv" && (columnTypes.size > 0 || emptyAsNull || values.delimiter !== undefined)) {
    throw new UsageError("--types, --empty-as-null and --delimiter apply to CSV input only");
  }
  const delimiter = postgres === undefined ? delimiterOf(input, values.format, values.delimiter) : ",";
  const dryRun = values["dry-run"] ?? false;
  const resume = values.resume;
  if (resume !== undefined && input === "-") {
    throw new UsageError("--resume needs a file: standard input cannot be recognised on a rerun");
  }
  if (resume !== undefined && dryRun) throw new UsageError("--resume has no meaning with --dry-run");
  const state = values.state;
  const full = values.full ?? false;
  if (full && state === undefined) throw new UsageError("--full applies to --state only");
  const resendAfter = values["resend-after-hours"];
  if (resendAfter !== undefined && state === undefined) {
    throw new UsageError("--resend-after-hours applies to --state only");
  }
  const resendAfterHours = resendAfter === undefined
    ? DEFAULT_RESEND_AFTER_HOURS
    : /^\d+(\.\d+)?$/.test(resendAfter)
    ? Number(resendAfter)
    : Number.NaN;
  if (!(resendAfterHours > 0 && resendAfterHours <= 876_000)) {
    throw new UsageError(
      "--resend-after-hours must be a number of hours above 0 and at most 876000 (fractions allowed)",
    );
  }
  if (state === "-") throw new UsageError("--state needs a file");
  if (state !== undefined && values["ingest-url"] !== undefined) {
    throw new UsageError(
      "--state does not apply to --ingest-url: the gateway keeps its own record of what Userpilot has",
    );
  }
  const files = [postgres?.queryFile ?? input, values.report, resume, state].filter((file) =>
    file !== undefined && file !== "-" && file !== ""
  );
  if (new Set(files.map((file) => resolve(file as string))).size < files.length) {
    throw new UsageError("the input, --query-file, --report, --resume and --state must be different files");
  }

  const baseUrl = values["base-url"] ?? (env["USERPILOT_BASE_URL"] || undefined);
  if (baseUrl !== undefined) {
    try {
      normalizeBaseUrl(baseUrl);
    } catch (error) {
      throw new UsageError(`--base-url: ${(error as Error).message}`);
    }
  }

  const ingestUrl = values["ingest-url"];
  if (ingestUrl !== undefined) {
    if (values["base-url"] !== undefined) {
      throw new UsageError("--ingest-url and --base-url name two destinations; pass one");
    }
    if (values.upload) {
      throw new UsageError("--upload does not apply to --ingest-url (the gateway takes JSON)");
    }
    let parsed: URL | undefined;
    try {
      parsed = new URL(ingestUrl);
    } catch {
      // reported below
    }
    if (parsed === undefined || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) {
      throw new UsageError("--ingest-url must be an http(s) URL, such as https://ingest.example.com");
    }
    if (parsed.protocol === "http:" && !isLoopback(parsed.hostname)) {
      throw new UsageError(
        "--ingest-url must be https:// (plain http:// would send the ingest key unencrypted), except to loopback (localhost, 127.0.0.1, [::1])",
      );
    }
  }

  const retry: { -readonly [K in keyof RetryOptions]: RetryOptions[K] } = {};
  const baseDelayMs = wholeNumber("retry-delay", values["retry-delay"], 0, 600_000);
  if (baseDelayMs !== undefined) retry.baseDelayMs = baseDelayMs;
  const maxAttempts = wholeNumber("max-attempts", values["max-attempts"], 1, 1000);
  if (maxAttempts !== undefined) retry.maxAttempts = maxAttempts;
  const jobAttempts = wholeNumber("job-attempts", values["job-attempts"], 1, 1000);
  if (jobAttempts !== undefined) retry.jobAttempts = jobAttempts;

  return {
    kind,
    input,
    format,
    postgres,
    columnTypes,
    emptyAsNull,
    delimiter,
    report: values.report,
    maxRows: wholeNumber("max-rows", values["max-rows"], 1, MAX_ROWS_PER_REQUEST) ?? MAX_ROWS_PER_REQUEST,
    json: values.json ?? false,
    dryRun,
    upload: values.upload ?? false,
    resume,
    state,
    full,
    resendAfterHours,
    baseUrl: ingestUrl === undefined ? baseUrl : undefined,
    ingestUrl: ingestUrl?.replace(/\/+$/, ""),
    pollIntervalMs: wholeNumber("poll-interval", values["poll-interval"], 1, 3_600_000) ??
      DEFAULT_POLL_INTERVAL_MS,
    timeoutMs: wholeNumber("timeout", values.timeout, 1, 3_600_000),
    maxRecordBytes: wholeNumber("max-record-bytes", values["max-record-bytes"], 1_024, 1_073_741_824) ??
      DEFAULT_MAX_RECORD_BYTES,
    retry,
  };
}
