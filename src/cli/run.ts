import {
  DEFAULT_MAX_BODY_BYTES,
  describeFailure,
  type FetchFunction,
  HTTPError,
  INGEST_MESSAGE_BYTES,
  type IngestTarget,
  JobFailedError,
  NetworkError,
  normalizeBaseUrl,
  planWindows,
  RateLimitError,
  signingSecretProblem,
  TimeoutError,
  UserpilotClient,
  UserpilotError,
} from "../../mod.ts";
import { ingestCredentialFromEnv } from "../core/ingest-post.ts";
import { type CliOptions, parseCliArgs } from "./args.ts";
import { deliverDirect } from "./deliver.ts";
import { InputError, InterruptedError, ResumeError, StateError, UsageError } from "./errors.ts";
import { deliverViaGateway } from "./gateway.ts";
import { type InputFile, type InputSource, openInput } from "./input.ts";
import { openPostgres, type PostgresSource } from "./postgres-input.ts";
import { redacted } from "../postgres/errors.ts";
import { type Counters, type Destination, newCounters, Progress, type RunStatus } from "./progress.ts";
import { type InputRecord, readRecords } from "./readers/index.ts";
import { RejectReport } from "./report.ts";
import { fingerprintOf, postgresFingerprint, ResumeFile } from "./resume.ts";
import { RowStream, warnSetByUserpilot } from "./rows.ts";
import { Session } from "./session.ts";
import { escapesAllowed } from "./terminal.ts";
import type { DeliveredState } from "./state-file.ts";
import { openState } from "./state-options.ts";
import { UnchangedFilter } from "./unchanged-filter.ts";
import { uploadingFetch } from "./upload.ts";
import { USAGE } from "./usage.ts";
import { VERSION } from "./version.ts";

/** The world as the CLI sees it; `main.ts` wires it to the process, tests may wire it elsewhere. */
export interface CliIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Standard input, opened only when the input is `-`. */
  readonly stdin: () => AsyncIterable<Uint8Array>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly stderrIsTTY: boolean;
  /** Aborted (with an `InterruptedError`) on Ctrl-C or SIGTERM. */
  readonly signal: AbortSignal;
  /** Defaults to the global `fetch`. */
  readonly fetch?: FetchFunction | undefined;
}

const EXIT_OK = 0;
const EXIT_REJECTED = 1;
const EXIT_FAILED = 2;

/**
 * One line saying what went wrong and what to check (`gateway`: with `--ingest-url`). What of the
 * error itself is shown is the core's `describeFailure`: never a row value, never a key.
 */
export function explainFailure(error: unknown, gateway = false): string {
  if (error instanceof UsageError) return `${error.message} (see --help)`;
  if (error instanceof InputError || error instanceof ResumeError || error instanceof StateError) {
    return error.message;
  }
  if (error instanceof InterruptedError) return "interrupted";
  if (error instanceof HTTPError && (error.status === 401 || error.status === 403)) {
    const hint = gateway
      ? " (is USERPILOT_INGEST_KEY one of the gateway's INGEST_KEYS, or USERPILOT_INGEST_SIGNING_SECRET one of its INGEST_SIGNING_SECRETS?)"
      : "";
    return `authentication failed: ${describeFailure(error)}${hint}`;
  }
  if (error instanceof RateLimitError) {
    return `rate limited until every retry was used: ${describeFailure(error)}`;
  }
  if (error instanceof NetworkError || error instanceof TimeoutError) {
    const where = gateway ? "--ingest-url" : "--base-url / USERPILOT_BASE_URL";
    return `network failure: ${describeFailure(error)} (check ${where} and the connection)`;
  }
  if (error instanceof JobFailedError) {
    return `${describeFailure(error)}, on every attempt (see --job-attempts)`;
  }
  if (error instanceof UserpilotError) return describeFailure(error);
  return `unexpected failure: ${describeFailure(error)}`;
}

function createClient(options: CliOptions, io: CliIO): UserpilotClient {
  const apiKey = io.env["USERPILOT_API_KEY"];
  if (!apiKey) {
    throw new UsageError(
      "USERPILOT_API_KEY is not set: export the server-side API key from Userpilot's Environment settings, or use --dry-run",
    );
  }
  const fetch: FetchFunction = io.fetch ?? ((request) => globalThis.fetch(request));
  try {
    return new UserpilotClient({
      apiKey,
      baseUrl: options.baseUrl,
      fetch: options.upload ? uploadingFetch(fetch) : fetch,
      pollIntervalMs: options.pollIntervalMs,
      timeoutMs: options.timeoutMs,
      retry: options.retry,
    });
  } catch (error) {
    // The core's key checks name the problem, never the key.
    throw new UsageError(`USERPILOT_API_KEY: ${(error as Error).message}`);
  }
}

/**
 * The gateway and how to authenticate to it, from the callers' settings used everywhere: a
 * Standard Webhooks signing secret (`USERPILOT_INGEST_SIGNING_SECRET`, preferred when both are
 * set) or an ingest key (`USERPILOT_INGEST_KEY`). Never a flag: it would land in shell history.
 */
function ingestTargetOf(url: string, env: CliIO["env"]): IngestTarget {
  const credential = ingestCredentialFromEnv(env);
  if (credential === undefined) {
    throw new UsageError(
      "USERPILOT_INGEST_KEY (or USERPILOT_INGEST_SIGNING_SECRET) is not set: export one of the gateway's " +
        "ingest keys (or signing secrets) for --ingest-url, or use --dry-run",
    );
  }
  if ("signingSecret" in credential) {
    const problem = signingSecretProblem(credential.signingSecret);
    if (problem !== undefined) throw new UsageError(`USERPILOT_INGEST_SIGNING_SECRET ${problem}`);
  }
  return { url, ...credential };
}

/** What sends the rows, once the input is open: Userpilot directly, the gateway, or nothing (a dry run). */
type Sender = (session: Session, resume: ResumeFile | undefined) => Promise<void>;

function sender(options: CliOptions, io: CliIO): Sender | undefined {
  if (options.dryRun) return undefined;
  const { kind, maxRows, pollIntervalMs, timeoutMs, retry } = options;
  const maxBytes = DEFAULT_MAX_BODY_BYTES;
  if (options.ingestUrl !== undefined) {
    const target = ingestTargetOf(options.ingestUrl, io.env);
    return (session, resume) =>
      deliverViaGateway(session, {
        target,
        kind,
        maxRows,
        maxBytes,
        retry,
        timeoutMs,
        signal: io.signal,
        resume,
        fetch: io.fetch,
      });
  }
  const client = createClient(options, io);
  return (session, resume) =>
    deliverDirect(session, { client, kind, maxRows, maxBytes, pollIntervalMs, signal: io.signal, resume });
}

/** Read and check every row, sending nothing. */
async function dryRun(session: Session, options: CliOptions): Promise<void> {
  const plan = {
    kind: options.kind,
    maxRows: options.maxRows,
    maxBytes: DEFAULT_MAX_BODY_BYTES,
    // Through the gateway, a row over one of its Queue messages would be refused: say so here too.
    maxRowBytes: options.ingestUrl === undefined ? undefined : INGEST_MESSAGE_BYTES,
    maxIssues: Number.POSITIVE_INFINITY,
  };
  for await (const window of planWindows(session.stream.rows(), plan)) {
    session.window(window, 0);
    session.counters.jobs += window.chunks.length; // the jobs it would send
  }
}

/**
 * Read, validate, merge and send one input, streaming, and report how it went: directly to
 * Userpilot in one call of the core's client, or through the gateway with `--ingest-url`.
 * Resolves with the exit code: 0 all sent, 1 some rows rejected (the rest sent), 2 failure,
 * 130 interrupted by Ctrl-C (143 by SIGTERM).
 *
 * @example
 * ```ts
 * const code = await runBulk(parsed.options, io);
 * ```
 */
export async function runBulk(options: CliOptions, io: CliIO): Promise<number> {
  const location = options.postgres !== undefined ? "row" : options.format === "json" ? "element" : "line";
  const destination: Destination = options.ingestUrl !== undefined
    ? { via: "gateway", url: options.ingestUrl }
    : { via: "userpilot", url: destinationUrl(options.baseUrl) };
  const progress = new Progress({
    mode: options.json ? "json" : escapesAllowed(io.stderrIsTTY, io.env) ? "tty" : "plain",
    kind: options.kind,
    dryRun: options.dryRun,
    location,
    destination,
    stdout: io.stdout,
    stderr: io.stderr,
  });
  const counters: Counters = newCounters(undefined);
  let failure: unknown;
  let report: RejectReport | undefined;
  let source: InputSource | undefined;
  let database: PostgresSource | undefined;
  let state: DeliveredState | undefined;
  try {
    if (options.postgres === undefined) {
      source = await openInput(options.input, io.stdin);
      counters.bytesTotal = source.file?.size;
    } else {
      database = await openPostgres(options.postgres, { kind: options.kind, signal: io.signal, progress });
    }
    const send = sender(options, io);
    // A rerun judges the state's age by when the first run began: both leave out the same rows.
    const resumable = options.resume !== undefined && (source?.file !== undefined || database !== undefined);
    const resumed = resumable ? ResumeFile.startedAt(options.resume as string) : undefined;
    const startedAt = resumed ?? Date.now();
    state = openState(options, io.env, progress, startedAt);
    let resume: ResumeFile | undefined;
    if (resumable) {
      const chunking = {
        ...options,
        maxBytes: DEFAULT_MAX_BODY_BYTES,
        everyRow: state?.fullReason !== undefined,
      };
      const fingerprint = database !== undefined && options.postgres !== undefined
        ? postgresFingerprint(options.postgres, database.query, chunking)
        : fingerprintOf(source?.file as InputFile, chunking);
      resume = ResumeFile.open(options.resume as string, fingerprint, startedAt);
      noteResume(resume, progress);
    }
    report = RejectReport.open(options.report, location);
    const unchanged = state === undefined ? undefined : new UnchangedFilter(state, options.kind);
    const watched = (records: AsyncIterable<InputRecord>): AsyncIterable<InputRecord> =>
      options.kind === "users"
        ? warnSetByUserpilot(records, location, (message) => progress.note(message))
        : records;
    const opened = source;
    const session = new Session({
      counters,
      progress,
      report,
      stream: new RowStream(
        watched(database?.records ?? readRecords((opened as InputSource).chunks, options)),
        unchanged,
        database,
      ),
      bytesRead: () => opened?.bytesRead() ?? 0,
    });
    if (send === undefined) await dryRun(session, options);
    else await send(session, resume);
    session.rejected([], 0); // unreadable records after the last row
    counters.readDone = true;
    // Every job of the run completed: from now on, this is what Userpilot has.
    if (state !== undefined && send !== undefined && !state.save()) {
      progress.note(
        `--state ${options.state} was not updated: a row that was not delivered could no longer be ` +
          "traced to its id (the next run sends what this one did again)",
      );
    }
  } catch (error) {
    failure = io.signal.aborted ? io.signal.reason : error;
  } finally {
    report?.close();
    source?.close();
    await database?.close().catch(() => {}); // the run's outcome is told below either way
    state?.discard(); // this run's log, written or not
  }

  const status: RunStatus = failure instanceof InterruptedError
    ? "interrupted"
    : failure !== undefined
    ? "failed"
    : counters.rowsRejected > 0
    ? "rejected"
    : "completed";
  const exitCode = failure instanceof InterruptedError
    ? failure.exitCode
    : failure !== undefined
    ? EXIT_FAILED
    : counters.rowsRejected > 0
    ? EXIT_REJECTED
    : EXIT_OK;
  progress.finish(
    {
      status,
      exitCode,
      error: failure === undefined ? undefined : (() => {
        const message = explainFailure(failure, options.ingestUrl !== undefined);
        // No path of a failure may show the connection string, whoever wrote the message.
        return options.postgres === undefined ? message : redacted(message, options.postgres.url);
      })(),
      report: options.report,
      resume: options.resume,
    },
    counters,
  );
  return exitCode;
}

/** Say what an earlier run settled, when this one resumes it. */
function noteResume(resume: ResumeFile, progress: Progress): void {
  if (resume.after !== undefined) {
    progress.note(
      `resuming from ${resume.path}: every row up to id ${resume.after.after} was settled by an earlier run; ` +
        `reading on ${resume.after.inclusive ? "from" : "after"} it`,
    );
  } else if (resume.checkpoint > 0 || resume.inFlight !== undefined) {
    progress.note(
      `resuming from ${resume.path}: the first ${resume.checkpoint.toLocaleString("en-US")} rows ` +
        "were settled by an earlier run; they are checked again but not sent",
    );
  }
}

/** The Userpilot host a direct run goes to, as the summary names it. */
function destinationUrl(baseUrl: string | undefined): string {
  try {
    return normalizeBaseUrl(baseUrl);
  } catch {
    return baseUrl ?? "";
  }
}

/**
 * The whole command: parse the arguments, print help, the version or a usage error, or run.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(process.argv.slice(2), io);
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  let options: CliOptions;
  try {
    const parsed = parseCliArgs(argv, io.env);
    if ("version" in parsed) {
      io.stdout(`${VERSION}\n`);
      return EXIT_OK;
    }
    if (parsed.help) {
      io.stdout(USAGE);
      return EXIT_OK;
    }
    options = parsed.options;
  } catch (error) {
    io.stderr(`userpilot-bulk: ${explainFailure(error)}\n`);
    return EXIT_FAILED;
  }
  return await runBulk(options, io);
}
