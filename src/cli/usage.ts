/** The `userpilot-bulk --help` text: every flag, the input formats and the exit codes. */
import { DEFAULT_POLL_INTERVAL_MS } from "../core/poll.ts";

export const USAGE: string = `Usage: userpilot-bulk <users|companies> <file|-> [options]
       userpilot-bulk <users|companies> --from-postgres URL --query SQL [options]

Send user or company profiles from a file, or straight from a PostgreSQL query, to Userpilot's
bulk identify API, one job at a time (at most 10,000 rows each), and report every row that could
not be sent.

Input
  <file>               .ndjson or .jsonl (one JSON row per line), .json (a JSON array), .csv or
                       .tsv (CSV separated by tabs); any of them gzipped (users.csv.gz), read
                       as it streams, --resume and --state included
  -                    read standard input (NDJSON unless --format says otherwise)
  --format F           ndjson, json, csv or tsv (overrides the file extension)
  --delimiter D        CSV only: the field separator, , or ; or tab (also \\t); the default is a
                       comma, and a tab for .tsv files and --format tsv
  --types COL=TYPE     CSV only: type a column as number, boolean, date or string (the default);
                       repeatable or comma-separated: --types seats=number,trial=boolean
  --empty-as-null      CSV only: send empty cells as null (which removes the property at
                       Userpilot) instead of leaving them out
  --max-record-bytes N the longest record read (default 16777216, 16 MiB; CSV and JSON count
                       characters): a longer one (an unclosed quote?) is rejected with its line
                       and skipped, and reading goes on

  JSON rows: {"user_id": "...", "company_id"?: "...", "metadata"?: {...}}, or for companies
  {"company_id": "...", "metadata"?: {...}}. CSV: a header row with user_id (companies:
  company_id), for users an optional company_id column; every other column is a property.
  The id headers are matched in any case and without surrounding spaces (USER_ID, " User_Id ").
  CSV booleans: true/false, t/f, yes/no, y/n, 1/0. CSV dates: ISO 8601 (2024-05-01,
  2024-05-01 13:45:00, 2024-05-01T13:45:00+02:00); without an offset they are UTC.

From PostgreSQL (instead of a file)
  --from-postgres URL  read the rows of a query: postgres://user:password@host:5432/db, TLS
                       settings such as ?sslmode=require passed through; or env:NAME to read the
                       URL from the environment variable NAME (kept out of ps and shell history).
                       Never printed. Needs the package postgres (npm install postgres)
  --query SQL          one SELECT; its rows are read through a server-side cursor in the order
                       of the id column, in a read-only transaction
  --query-file FILE    the SQL from a file instead
  --id-column NAME     the id column (default user_id; companies: company_id)
  --company-column NAME
                       users: the company column (default company_id, when the query has one)
  --nulls MEANING      what SQL NULL means: clear (default: send null, which removes the
                       property at Userpilot) or untouched (leave the property out)

  Every other column is a property: integers and floats as numbers (a bigint or numeric beyond
  2^53 rejects its row, never rounded), booleans, date/timestamp/timestamptz as ISO 8601 UTC,
  other types as PostgreSQL writes them; json, arrays and bytea columns are refused (flatten
  them in SQL). Rejected rows are reported by id and row. --resume goes on after the last
  settled id; a lost connection is reconnected, reading on after the last id read.

Sending
  --max-rows N         rows per job, 1 to 10000 (default 10000). Rows that share an id are
                       merged within each window of N input rows; later rows win across windows
  --upload             send each job as an NDJSON file upload (multipart) instead of a JSON body
  --dry-run            validate and report only: sends nothing and needs no API key
  --resume FILE        record finished jobs in FILE; rerun with the same FILE to continue an
                       interrupted run without sending anything twice
  --state FILE         remember in FILE what each id's row was when a run completed (a compact
                       binary file, 16 bytes an id); the next run with the same FILE sends only
                       rows that changed since, and says how many it left out. Written only when
                       every job of the run completed; rows rejected, set aside, or settled by
                       an earlier run (--resume) are not recorded. Every row is sent again (and
                       the note says why) after a change of users/companies, --types,
                       --empty-as-null, the base URL or the API key, and once the last full
                       send is older than --resend-after-hours
  --full               with --state: send every row anyway (Userpilot may have been changed
                       elsewhere), and record them
  --resend-after-hours N
                       with --state: send every row again once the last full send began more
                       than N hours ago (default 168, a week; fractions allowed), so changes
                       made in Userpilot itself are overwritten
  --base-url URL       us (default), eu, an enterprise host or a sandbox URL
                       (or env USERPILOT_BASE_URL)
  --ingest-url URL     send through this ingestion endpoint (the gateway) instead: it queues the
                       rows and its single sequencer delivers them, so this run never competes
                       with it for Userpilot's one job slot. Needs USERPILOT_INGEST_KEY or
                       USERPILOT_INGEST_SIGNING_SECRET.
                       https:// only (http:// only to loopback: the key must not travel in clear)

Output
  --report FILE        write every rejected row as NDJSON: {"line":N,"path":"...","message":"..."}
                       (for a JSON array {"element":N,...}, counted from 0)
  --json               NDJSON progress lines and a final summary on stdout
  -h, --help           show this help
  --version            print the version

Tuning (the defaults suit Userpilot)
  --poll-interval MS   how often a running job is polled (default ${DEFAULT_POLL_INTERVAL_MS})
  --retry-delay MS     first retry wait, doubled on each retry, with jitter (default 1000)
  --max-attempts N     attempts of one HTTP request (default 6)
  --job-attempts N     runs of one job that ends "failed" (default 3)
  --timeout MS         longest wait for one HTTP request (default 30000)

Environment
  USERPILOT_API_KEY    the server-side API key from Environment settings (not the NX- app token)
  USERPILOT_BASE_URL   like --base-url
  USERPILOT_INGEST_KEY an ingest key of the gateway, for --ingest-url (never a flag: it would
                       land in shell history)
  USERPILOT_INGEST_SIGNING_SECRET
                       or a signing secret of the gateway (whsec_…): each body is signed the
                       Standard Webhooks way (preferred when both are set)
  PGHOST, PGPASSWORD, PGSSLMODE, ...
                       with --from-postgres, what the URL leaves out, as libpq reads them

Exit codes
  0    every row was sent
  1    some rows were rejected (see --report); every other row was sent
  2    failure: bad usage, authentication, network or a failed job
  130  interrupted by Ctrl-C (SIGINT), 143 by SIGTERM; with --resume, rerun to continue
`;
