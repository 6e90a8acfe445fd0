import { expect, test } from "vitest";
import { type CliOptions, formatOf, parseCliArgs, parseColumnTypes } from "../../src/cli/args.ts";
import { UsageError } from "../../src/cli/errors.ts";

const options = (argv: string[], env: Record<string, string> = {}): CliOptions => {
  const parsed = parseCliArgs(argv, env);
  if (!("options" in parsed)) throw new Error("expected a run");
  return parsed.options;
};

test("defaults", () => {
  expect(options(["users", "export.ndjson"])).toMatchObject({
    kind: "users",
    input: "export.ndjson",
    format: "ndjson",
    maxRows: 10_000,
    dryRun: false,
    upload: false,
    json: false,
    baseUrl: undefined,
    pollIntervalMs: 5000,
    retry: {},
  });
  expect(parseCliArgs(["-h"], {})).toEqual({ help: true });
  expect(parseCliArgs(["--version"], {})).toEqual({ version: true });
  expect(parseCliArgs(["users", "a.csv", "--version"], {})).toEqual({ version: true });
});

test("the format comes from --format, else the extension; standard input is NDJSON", () => {
  expect(formatOf("a.JSONL", undefined)).toBe("ndjson");
  expect(formatOf("a.json", undefined)).toBe("json");
  expect(formatOf("dir.v2/a.csv", undefined)).toBe("csv");
  expect(formatOf("-", undefined)).toBe("ndjson");
  expect(formatOf("a.txt", "CSV")).toBe("csv");
  expect(() => formatOf("a.txt", undefined)).toThrow(UsageError);
  expect(() => formatOf("a.csv", "xml")).toThrow("--format must be ndjson, json, csv or tsv");
  // A gzipped export names its format before .gz.
  expect(formatOf("unload/users.csv.gz", undefined)).toBe("csv");
  expect(formatOf("users.NDJSON.GZ", undefined)).toBe("ndjson");
  expect(formatOf("users.tsv.gz", undefined)).toBe("csv");
  expect(() => formatOf("users.gz", undefined)).toThrow(
    "cannot tell the format of users.gz from its extension",
  );
  expect(formatOf("export.TSV", undefined)).toBe("csv");
  expect(formatOf("a.txt", "tsv")).toBe("csv");
});

test("--delimiter: , ; or a tab (tab, \\t or the character); .tsv and --format tsv default to a tab", () => {
  expect(options(["users", "a.csv"]).delimiter).toBe(",");
  expect(options(["users", "a.tsv"]).delimiter).toBe("\t");
  expect(options(["users", "a.txt", "--format", "tsv"]).delimiter).toBe("\t");
  expect(options(["users", "-", "--format", "TSV"]).delimiter).toBe("\t");
  expect(options(["users", "a.csv", "--delimiter", ";"]).delimiter).toBe(";");
  expect(options(["users", "a.csv", "--delimiter", "tab"]).delimiter).toBe("\t");
  expect(options(["users", "a.csv", "--delimiter", "TAB"]).delimiter).toBe("\t");
  expect(options(["users", "a.csv", "--delimiter", "\\t"]).delimiter).toBe("\t");
  expect(options(["users", "a.csv", "--delimiter", "\t"]).delimiter).toBe("\t");
  expect(options(["users", "a.tsv", "--delimiter", ","]).delimiter).toBe(",");
  expect(() => options(["users", "a.csv", "--delimiter", "|"])).toThrow("--delimiter must be , or ; or tab");
  expect(() => options(["users", "a.csv", "--delimiter", ";;"])).toThrow(UsageError);
  expect(() => options(["users", "a.ndjson", "--delimiter", ";"])).toThrow("apply to CSV input only");
});

test("--types is repeatable and comma-separated; a column cannot get two types", () => {
  expect(parseColumnTypes(["a=number,b=Boolean", "c=date", "a=number"])).toEqual(
    new Map([["a", "number"], ["b", "boolean"], ["c", "date"]]),
  );
  expect(() => parseColumnTypes(["a=int"])).toThrow("--types takes COLUMN=TYPE");
  expect(() => parseColumnTypes(["=number"])).toThrow(UsageError);
  expect(() => parseColumnTypes(["a=number", "a=date"])).toThrow('gives column "a" two types');
});

test("tuning flags become the client's retry policy", () => {
  expect(
    options([
      "companies",
      "-",
      "--retry-delay",
      "1",
      "--max-attempts",
      "9",
      "--job-attempts",
      "4",
      "--timeout",
      "2000",
      "--poll-interval",
      "10",
    ]),
  ).toMatchObject({
    kind: "companies",
    retry: { baseDelayMs: 1, maxAttempts: 9, jobAttempts: 4 },
    timeoutMs: 2000,
    pollIntervalMs: 10,
  });
});

test("the base URL comes from --base-url, else USERPILOT_BASE_URL, and is checked", () => {
  expect(options(["users", "a.csv"], { USERPILOT_BASE_URL: "eu" }).baseUrl).toBe("eu");
  expect(options(["users", "a.csv", "--base-url", "us"], { USERPILOT_BASE_URL: "eu" }).baseUrl).toBe("us");
  expect(() => options(["users", "a.csv", "--base-url", "http://example.com"])).toThrow(
    /--base-url: .*https/,
  );
});

test.each([
  [["users", "a.csv", "--max-rows", "0"], "--max-rows must be a whole number from 1 to 10000"],
  [["users", "a.csv", "--max-rows", "1e3"], "--max-rows must be a whole number"],
  [["users", "a.csv", "extra.csv"], "one input file at a time"],
  [["users", "a.csv", "--dry-run", "--resume", "s.json"], "--resume has no meaning with --dry-run"],
  [["users", "a.json", "--empty-as-null"], "apply to CSV input only"],
  [["users", "a.csv", "--upload=yes"], "--upload"],
  [
    ["users", "a.csv", "--report", "./a.csv"],
    "the input, --query-file, --report, --resume and --state must be different files",
  ],
  [["users", "a.csv", "--report", "r", "--resume", "r"], "must be different files"],
])("usage error: %j", (argv, message) => {
  expect(() => options(argv)).toThrow(UsageError);
  expect(() => options(argv)).toThrow(message);
});

const URL_WITH_PASSWORD = "postgres://sync:pw-Zk31-never-shown@db.example.com:5432/app?sslmode=require";

test("--from-postgres: a URL or env:NAME, one query (inline or from a file), the columns and what NULL means", () => {
  const postgres = options(["users", "--from-postgres", URL_WITH_PASSWORD, "--query", "select 1"]).postgres;
  expect(postgres).toEqual({
    url: URL_WITH_PASSWORD,
    query: "select 1",
    queryFile: undefined,
    idColumn: undefined,
    companyColumn: undefined,
    nulls: "clear",
  });
  expect(
    options(
      [
        "companies",
        "--from-postgres",
        "env:DATABASE_URL",
        "--query-file",
        "q.sql",
        "--id-column",
        "org",
        "--nulls",
        "untouched",
        "--resume",
        "r.json",
        "--state",
        "s.state",
      ],
      { DATABASE_URL: URL_WITH_PASSWORD },
    ),
  ).toMatchObject({
    kind: "companies",
    resume: "r.json",
    state: "s.state",
    postgres: { url: URL_WITH_PASSWORD, queryFile: "q.sql", idColumn: "org", nulls: "untouched" },
  });
  expect(options(["users", "a.csv"]).postgres).toBeUndefined();
});

test.each([
  [["users", "a.csv", "--from-postgres", "postgres://h/db", "--query", "q"], "give it no input file"],
  [["users", "--from-postgres", "postgres://h/db"], "--query SQL or --query-file FILE"],
  [["users", "--from-postgres", "postgres://h/db", "--query", "q", "--query-file", "f"], "(one of them)"],
  [["users", "--from-postgres", "postgres://h/db", "--query", " "], "--query is empty"],
  [
    ["users", "--from-postgres", "postgres://h/db", "--query", "q", "--types", "a=number"],
    "--types applies to file",
  ],
  [
    ["users", "--from-postgres", "postgres://h/db", "--query", "q", "--format", "csv"],
    "--format applies to file",
  ],
  [["users", "--from-postgres", "postgres://h/db", "--query", "q", "--nulls", "keep"], "clear or untouched"],
  [
    ["companies", "--from-postgres", "postgres://h/db", "--query", "q", "--company-column", "c"],
    "users only",
  ],
  [["users", "a.csv", "--query", "q"], "--query applies to --from-postgres only"],
  [["users", "a.csv", "--nulls", "clear"], "--nulls applies to --from-postgres only"],
  [["users", "--from-postgres", "env:NOPE", "--query", "q"], "the environment variable NOPE is not set"],
  [["users", "--from-postgres", "postgres://h/db", "--query-file", "r", "--report", "r"], "different files"],
  [["users"], "users needs a file, - for standard input, or --from-postgres"],
])("usage error with --from-postgres: %j", (argv, message) => {
  expect(() => options(argv)).toThrow(UsageError);
  expect(() => options(argv)).toThrow(message);
});

test("a connection string that is not a PostgreSQL URL is refused without being quoted", () => {
  const secret = "mysql://root:pw-Zk31-never-shown@db/app";
  let message = "";
  try {
    options(["users", "--from-postgres", secret, "--query", "q"]);
  } catch (error) {
    message = (error as Error).message;
  }
  expect(message).toMatch(/^--from-postgres takes a PostgreSQL URL/);
  expect(message).not.toContain("pw-Zk31");
});

test("--ingest-url: one destination, an http(s) URL, JSON bodies; the key is never a flag", () => {
  expect(options(["users", "a.csv", "--ingest-url", "https://ingest.example.com/"], {
    USERPILOT_BASE_URL: "eu",
  })).toMatchObject({ ingestUrl: "https://ingest.example.com", baseUrl: undefined });
  expect(() => options(["users", "a.csv", "--ingest-url", "https://i.example.com", "--base-url", "eu"]))
    .toThrow("--ingest-url and --base-url name two destinations");
  expect(() => options(["users", "a.csv", "--ingest-url", "ftp://i.example.com"])).toThrow(
    "--ingest-url must be an http(s) URL",
  );
  expect(() => options(["users", "a.csv", "--ingest-url", "https://i.example.com", "--upload"])).toThrow(
    "--upload does not apply to --ingest-url",
  );
  expect(() => options(["users", "a.csv", "--ingest-key", "k"])).toThrow("Unknown option '--ingest-key'");
});

test("--ingest-url refuses plain http:// (the ingest key would travel unencrypted), except to loopback", () => {
  for (
    const url of [
      "http://ingest.example.com",
      "http://10.0.0.5:8787",
      "HTTP://Ingest.Example.com/",
      "http://127.example.com",
    ]
  ) {
    expect(() => options(["users", "a.csv", "--ingest-url", url]), url).toThrow(
      "--ingest-url must be https:// (plain http:// would send the ingest key unencrypted), except to loopback",
    );
  }
  for (
    const url of [
      "http://127.0.0.1:8787",
      "http://localhost:8787/",
      "http://[::1]:8787",
      "http://127.1.2.3",
      "https://ingest.example.com",
    ]
  ) {
    expect(options(["users", "a.csv", "--ingest-url", url]).ingestUrl, url).toBe(url.replace(/\/$/, ""));
  }
});
