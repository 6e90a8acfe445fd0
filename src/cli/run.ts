import {
  DEFAULT_MAX_BODY_BYTES,
  type FetchFunction,
  HTTPError,
  JobFailedError,
  NetworkError,
  RateLimitError,
  TimeoutError,
  UserpilotClient,
  UserpilotError,
} from "../../mod.ts";
import { type CliOptions, parseCliArgs, USAGE } from "./args.ts";
import { ChunkSender } from "./deliver.ts";
import { InputError, InterruptedError, ResumeError, UsageError } from "./errors.ts";
import { type InputSource, openInput } from "./input.ts";
import { type Counters, newCounters, Progress, type RunStatus } from "./progress.ts";
import { readRecords } from "./records.ts";
import { RejectReport } from "./report.ts";
import { fingerprintOf, ResumeFile } from "./resume.ts";
import { uploadingFetch } from "./upload.ts";
import { planWindows } from "./windows.ts";

/** The world as the CLI sees it; `main.ts` wires it to the process, tests may wire it elsewhere. */
export interface CliIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Standard input, opened only when the input is `-`. */
  readonly stdin: () => AsyncIterable<Uint8Array>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly stderrIsTTY: boolean;
  /** Aborted (with an `InterruptedError`) on Ctrl-C. */
  readonly signal: AbortSignal;
  /** Defaults to the global `fetch`. */
  readonly fetch?: FetchFunction | undefined;
}

const EXIT_OK = 0;
const EXIT_REJECTED = 1;
const EXIT_FAILED = 2;

/** One line saying what went wrong: never a row value, never the key. */
export function describeFailure(error: unknown): string {
  if (error instanceof UsageError) return `${error.message} (see --help)`;
  if (error instanceof InputError || error instanceof ResumeError) return error.message;
  if (error instanceof InterruptedError) return "interrupted";
  if (error instanceof HTTPError && (error.status === 401 || error.status === 403)) {
    return `authentication failed: ${error.message}`;
  }
  if (error instanceof RateLimitError) return `rate limited until every retry was used: ${error.message}`;
  if (error instanceof NetworkError || error instanceof TimeoutError) {
    return `network failure: ${error.message} (check --base-url / USERPILOT_BASE_URL and the connection)`;
  }
  if (error instanceof JobFailedError) return `${error.message}, on every attempt (see --job-attempts)`;
  if (error instanceof UserpilotError) return error.message;
  return `unexpected ${error instanceof Error ? `${error.name}: ${error.message}` : "failure"}`;
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
 * Read, validate, merge and send one input, window by window, and report how it went.
 * Resolves with the exit code: 0 all sent, 1 some rows rejected (the rest sent), 2 failure.
 *
 * @example
 * ```ts
 * const code = await runBulk(parsed.options, io);
 * ```
 */
export async function runBulk(options: CliOptions, io: CliIO): Promise<number> {
  const location = options.format === "json" ? "element" : "line";
  const progress = new Progress({
    mode: options.json ? "json" : io.stderrIsTTY ? "tty" : "plain",
    kind: options.kind,
    dryRun: options.dryRun,
    location,
    stdout: io.stdout,
    stderr: io.stderr,
  });
  const counters: Counters = newCounters(undefined);
  const maxBytes = DEFAULT_MAX_BODY_BYTES;
  let failure: unknown;
  let report: RejectReport | undefined;
  let resume: ResumeFile | undefined;
  let source: InputSource | undefined;
  try {
    source = await openInput(options.input, io.stdin);
    counters.bytesTotal = source.file?.size;
    const client = options.dryRun ? undefined : createClient(options, io);
    if (options.resume !== undefined && source.file !== undefined) {
      resume = ResumeFile.open(options.resume, fingerprintOf(source.file, { ...options, maxBytes }));
      if (resume.completedChunks > 0) {
        progress.note(
          `resuming from ${options.resume}: ${resume.completedChunks} job(s), ` +
            `${resume.completedRows.toLocaleString("en-US")} rows, were delivered earlier and are skipped`,
        );
      }
    }
    report = RejectReport.open(options.report, location);
    const sender = client === undefined ? undefined : new ChunkSender({
      client,
      kind: options.kind,
      maxRows: options.maxRows,
      maxBytes,
      pollIntervalMs: options.pollIntervalMs,
      signal: io.signal,
      counters,
      progress,
      resume,
    });
    let chunkNumber = 0;
    const windows = planWindows(readRecords(source.chunks, options), {
      kind: options.kind,
      maxRows: options.maxRows,
      maxBytes,
    });
    for await (const window of windows) {
      io.signal.throwIfAborted();
      counters.rowsRead += window.rows;
      counters.rowsRejected += window.rejectedRows;
      counters.rowsMerged += window.mergedRows;
      counters.bytesRead = source.bytesRead();
      for (const chunk of window.chunks) counters.rowsPlanned += chunk.rows.length;
      report.write(window.issues);
      progress.rejected(window.issues);
      progress.update("read", counters);
      for (const chunk of window.chunks) {
        const number = chunkNumber++;
        if (resume !== undefined && number < resume.completedChunks) {
          counters.rowsSkipped += chunk.rows.length;
        } else if (sender === undefined) {
          counters.jobs++; // a dry run counts the jobs it would send
        } else {
          // Rows Userpilot would not take even alone: not delivered, so reported like rejected rows.
          const refused = (await sender.send(number, chunk)).map((issue) => ({
            at: window.positions[chunk.indexes[issue.index]!]!,
            path: issue.path,
            message: issue.message,
          }));
          counters.rowsRejected += refused.length;
          report.write(refused);
          progress.rejected(refused);
        }
      }
    }
    counters.readDone = true;
  } catch (error) {
    failure = io.signal.aborted ? io.signal.reason : error;
  } finally {
    report?.close();
    source?.close();
  }

  const status: RunStatus = failure instanceof InterruptedError
    ? "interrupted"
    : failure !== undefined
    ? "failed"
    : counters.rowsRejected > 0
    ? "rejected"
    : "completed";
  const exitCode = failure !== undefined ? EXIT_FAILED : counters.rowsRejected > 0 ? EXIT_REJECTED : EXIT_OK;
  progress.finish(
    {
      status,
      exitCode,
      error: failure === undefined ? undefined : describeFailure(failure),
      report: options.report,
      resume: options.resume,
    },
    counters,
  );
  return exitCode;
}

/**
 * The whole command: parse the arguments, print help or a usage error, or run.
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
    if (parsed.help) {
      io.stdout(USAGE);
      return EXIT_OK;
    }
    options = parsed.options;
  } catch (error) {
    io.stderr(`userpilot-bulk: ${describeFailure(error)}\n`);
    return EXIT_FAILED;
  }
  return await runBulk(options, io);
}
