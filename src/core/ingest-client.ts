import { type BulkKind, planChunks, validateRows } from "./build-requests.ts";
import { UserpilotError, ValidationError } from "./errors.ts";
import {
  checkIngestTarget,
  ingestBaseUrl,
  type IngestTarget,
  postToIngest,
  type PostToIngestOptions,
} from "./ingest-post.ts";
import type { CompanyInput, UserInput } from "./inputs.ts";
import { MAX_ROWS_PER_REQUEST } from "./limits.ts";
import type { RetryOptions } from "./retry.ts";
import type { FetchFunction } from "./transport.ts";
import { checkLimit } from "./validate-rows.ts";

export type { IngestTarget } from "./ingest-post.ts";

/** Options of {@link createIngestClient}. */
export interface IngestClientOptions {
  /** Defaults to the global `fetch`. */
  fetch?: FetchFunction | undefined;
  /**
   * Per-request use: keeps the send alive after the response is returned (a Worker's
   * `ctx.waitUntil`, or `event.waitUntil` in edge middleware). With it, calls are sent on their
   * own right after the current task; without it (and without `flushAt` / `flushIntervalMs`),
   * call `flush()`.
   */
  waitUntil?: ((promise: Promise<unknown>) => void) | undefined;
  /**
   * Long-lived use (a Node, Bun or Deno server, a queue worker): send as soon as this many rows of
   * a kind are waiting, in bodies of this many rows (1 to 10,000). Default 1,000 once
   * `flushIntervalMs` is given. Call `close()` before the process exits.
   */
  flushAt?: number | undefined;
  /**
   * Long-lived use: send what is waiting at most this long (ms) after the first of it arrived.
   * Default 10,000 once `flushAt` is given.
   */
  flushIntervalMs?: number | undefined;
  /** Told of every failure: rows refused before sending, and sends that failed after retries. Never thrown. */
  onError?: ((error: UserpilotError) => void) | undefined;
  /** Longest wait for one attempt. Default 10,000 ms. */
  timeoutMs?: number | undefined;
  /**
   * Retries of a send (network errors, 408, 429, 5xx). Default: 3 attempts, 200 ms to 2 s apart;
   * long-lived clients 5 attempts, 500 ms to 8 s apart.
   */
  retry?: RetryOptions | false | undefined;
}

/** What a flush (or a client's whole life, for `close()`) did. */
export interface IngestFlushResult {
  /** Rows the endpoint accepted (202). */
  readonly sent: number;
  /** Rows whose send failed; each failure went to `onError`. */
  readonly failed: number;
}

/** Identify users and companies through the ingestion endpoint, batched. */
export interface IngestClient {
  /** Queue one user. Invalid rows (checked at run time too) go to `onError`. */
  identify(user: UserInput): void;
  /** Queue one company. Invalid rows (checked at run time too) go to `onError`. */
  identifyCompany(company: CompanyInput): void;
  /**
   * Send everything queued (one POST per kind, more only past the batch size) and wait for every
   * send under way. Resolves with what this flush sent; never rejects.
   */
  flush(): Promise<IngestFlushResult>;
  /**
   * Flush, wait for every send to be accepted or reported failed, and refuse later calls (they go
   * to `onError`). Resolves with the totals of the client's whole life; never rejects.
   */
  close(): Promise<IngestFlushResult>;
  /** `close()`, for `await using client = createIngestClient(…)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Bodies stay well under the endpoint's default 5 MB limit. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const DEFAULT_FLUSH_AT = 1000;
const DEFAULT_FLUSH_INTERVAL_MS = 10_000;

const noop = (): void => {};

/**
 * A client for the ingestion endpoint. Rows are validated when queued and sent in batches: one
 * POST per kind with the rows of one request (per-request use, with `waitUntil` or `flush()`), or,
 * in a long-lived process, every `flushAt` rows and at least every `flushIntervalMs` across
 * requests, until `close()`. Sends go one after another (so a later call always lands later),
 * signed the Standard Webhooks way with a `signingSecret` or with the bearer key and an
 * `Idempotency-Key`, one id per batch reused on every retry. Failures go to `onError`, never into
 * the caller's request.
 *
 * A long-lived process that exits without `close()` loses what is still queued (up to `flushAt`
 * rows, or `flushIntervalMs` of them): close it in the process's shutdown handler, before it exits
 * (the Node server in `examples/node-server.mjs` does this on `SIGTERM`).
 *
 * @example
 * ```ts
 * // A long-lived server: batched across requests, flushed on shutdown.
 * const userpilot = createIngestClient({ url: INGEST_URL, key: INGEST_KEY }, { flushAt: 500, flushIntervalMs: 5000 });
 * app.post("/login", (req, res) => { userpilot.identify({ user_id: req.user.id }); res.end(); });
 * onShutdown(async () => { await userpilot.close(); }); // your runtime's SIGTERM handler
 * ```
 * @example
 * ```ts
 * // A Worker: one POST per request, sent after the response.
 * const userpilot = createIngestClient(
 *   { url: "https://ingest.example.com", signingSecret: env.INGEST_SIGNING_SECRET },
 *   { waitUntil: (p) => ctx.waitUntil(p), onError: (e) => console.warn(e.message) },
 * );
 * userpilot.identify({ user_id: "user_123", metadata: { plan: "pro" } });
 * ```
 */
export function createIngestClient(target: IngestTarget, options: IngestClientOptions = {}): IngestClient {
  ingestBaseUrl(target.url);
  checkIngestTarget(target, "createIngestClient");
  const longLived = options.flushAt !== undefined || options.flushIntervalMs !== undefined;
  if (longLived && options.waitUntil !== undefined) {
    throw new TypeError(
      "createIngestClient: waitUntil is for per-request use, flushAt/flushIntervalMs for long-lived use",
    );
  }
  const batch = longLived
    ? checkLimit("flushAt", options.flushAt ?? DEFAULT_FLUSH_AT, MAX_ROWS_PER_REQUEST)
    : MAX_ROWS_PER_REQUEST;
  const intervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
  if (!(intervalMs >= 0)) throw new RangeError("flushIntervalMs must be a number of at least 0");
  const posting: PostToIngestOptions = {
    fetch: options.fetch,
    timeoutMs: options.timeoutMs,
    retry: options.retry === false
      ? false
      : longLived
      ? { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 8000, ...options.retry }
      : options.retry,
  };
  const report = (error: UserpilotError): void => {
    try {
      options.onError?.(error);
    } catch {
      // A throwing callback must not break the caller's request either.
    }
  };
  const queued: Record<BulkKind, unknown[]> = { users: [], companies: [] };
  const totals = { sent: 0, failed: 0 };
  // Sends run one after another, in the order their rows were queued.
  let chain: Promise<unknown> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let scheduled = false;
  let closed = false;

  async function send(kind: BulkKind, rows: unknown[]): Promise<IngestFlushResult> {
    let sent = 0;
    let failed = 0;
    const { chunks } = planChunks(rows, { kind, maxRows: batch, maxBytes: MAX_BODY_BYTES });
    for (const chunk of chunks) {
      try {
        await postToIngest(target, kind, chunk.body, posting);
        sent += chunk.rows.length;
      } catch (error) {
        report(error as UserpilotError);
        failed += chunk.rows.length;
      }
    }
    totals.sent += sent;
    totals.failed += failed;
    return { sent, failed };
  }

  /** Queue a send of `rows` behind every send before it. */
  function enqueue(kind: BulkKind, rows: unknown[]): Promise<IngestFlushResult> {
    const done = chain.then(() => send(kind, rows));
    chain = done.catch(noop);
    return done;
  }

  async function flush(): Promise<IngestFlushResult> {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const sends: Promise<IngestFlushResult>[] = [];
    for (const kind of ["users", "companies"] as const) {
      const rows = queued[kind].splice(0);
      if (rows.length > 0) sends.push(enqueue(kind, rows));
    }
    await chain; // and every send queued before these
    const results = await Promise.all(sends);
    return {
      sent: results.reduce((sum, result) => sum + result.sent, 0),
      failed: results.reduce((sum, result) => sum + result.failed, 0),
    };
  }

  async function close(): Promise<IngestFlushResult> {
    closed = true;
    await flush();
    return { ...totals };
  }

  function add(kind: BulkKind, row: unknown): void {
    const call = kind === "users" ? "identify" : "identifyCompany";
    if (closed) {
      report(new UserpilotError(`${call} was called after close(); the row was not sent`));
      return;
    }
    const { valid, rejected } = validateRows([row], { kind });
    if (rejected.length > 0) {
      report(new ValidationError(`${call} was given an invalid row; it was not sent`, rejected));
      return;
    }
    // The validated copy: the caller may reuse or change its object before the send.
    const waiting = queued[kind];
    waiting.push(valid[0]!.row);
    if (longLived) {
      if (waiting.length >= batch) void enqueue(kind, waiting.splice(0, batch));
      else timer ??= setTimeout(() => void flush(), intervalMs);
    } else if (options.waitUntil !== undefined && !scheduled) {
      scheduled = true;
      // Let the rest of this task's calls join the batch, then send in the background.
      options.waitUntil(
        new Promise((resolve) => setTimeout(resolve, 0)).then(() => {
          scheduled = false;
          return flush();
        }),
      );
    }
  }

  const client: IngestClient = {
    identify: (user) => add("users", user),
    identifyCompany: (company) => add("companies", company),
    flush,
    close,
    [Symbol.asyncDispose]: () => close().then(noop),
  };
  return client;
}
