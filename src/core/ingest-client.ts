import type { BulkKind } from "./build-requests.ts";
import { TimeoutError, UserpilotError, ValidationError } from "./errors.ts";
import { IngestBacklog, type IngestSegment, plannedWrites } from "./ingest-backlog.ts";
import { callName, checkedEvent, checkedIds, checkedRow } from "./ingest-calls.ts";
import {
  checkIngestTarget,
  ingestBaseUrl,
  ingestCredentialFromEnv,
  type IngestTarget,
  type PostToIngestOptions,
  sendToIngest,
} from "./ingest-post.ts";
import { MAX_ROWS_PER_REQUEST } from "./limits.ts";
import { setByUserpilot, setByUserpilotWarning } from "./reserved-properties.ts";
import { checkLimit } from "./validate-rows.ts";
import type {
  CreateIngestClient,
  IngestClient,
  IngestClientOptions,
  IngestFlushOptions,
  IngestFlushResult,
} from "./ingest-types.ts";

/** Bodies stay well under the endpoint's default 5 MB limit. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Long-lived use: how many waiting calls make a send (and rows a body). */
export const DEFAULT_FLUSH_AT: number = 1000;
/** Long-lived use: the longest the first waiting call waits for its send. */
export const DEFAULT_FLUSH_INTERVAL_MS: number = 10_000;
/** Per-request sends and `close()`: inside the 30 s of a Worker's `waitUntil` and of a container's SIGTERM grace. */
const DEFAULT_DEADLINE_MS = 25_000;

const noop = (): void => {};

/** A promise that never settles before `ms`, and its timer's cancel. */
function delay(ms: number): { done: Promise<void>; cancel: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const done = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  const cancel = (): void => {
    if (timer !== undefined) clearTimeout(timer);
  };
  return { done, cancel };
}

/** What `onError` hears when a `waitUntil` throws (outside a request, say): the send goes on without it. */
export function waitUntilThrew(error: unknown): UserpilotError {
  const reason = error instanceof Error ? error.message : "not in a request?";
  return new UserpilotError(`waitUntil threw (${reason}); the send goes on without it and may be cut short`, {
    cause: error,
  });
}

function checkDuration(name: string, value: number | undefined, fallback: number): number {
  const ms = value ?? fallback;
  if (!(ms >= 0)) throw new RangeError(`${name} must be a number of at least 0`);
  return ms;
}

function ingestClient(target: IngestTarget, options: IngestClientOptions = {}): IngestClient {
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
  const intervalMs = checkDuration("flushIntervalMs", options.flushIntervalMs, DEFAULT_FLUSH_INTERVAL_MS);
  const deadlineMs = checkDuration("deadlineMs", options.deadlineMs, DEFAULT_DEADLINE_MS);
  const posting: PostToIngestOptions = {
    fetch: options.fetch,
    timeoutMs: options.timeoutMs,
    retry: options.retry === false
      ? false
      : longLived
      ? { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 8000, ...options.retry }
      : options.retry,
  };
  const report = (error: unknown): void => {
    const failure = error instanceof UserpilotError
      ? error
      : new UserpilotError(`ingest client: ${error instanceof Error ? error.message : "failed"}`, {
        cause: error,
      });
    try {
      options.onError?.(failure);
    } catch {
      // A throwing callback must not break the caller's request either.
    }
  };
  const warned = new Set<string>();
  const warn = (key: string): void => {
    if (warned.has(key)) return;
    warned.add(key);
    try {
      (options.onWarning ?? console.warn)(`userpilot-bulk: ${setByUserpilotWarning(key)}`);
    } catch {
      // As with onError.
    }
  };

  const backlog = new IngestBacklog();
  const totals = { sent: 0, failed: 0 };
  /** Calls taken from the backlog whose sends have not settled. */
  let inFlight = 0;
  // Sends run one after another, in the order their calls were queued.
  let chain: Promise<unknown> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let scheduled = false;
  let closed = false;
  /** Aborted when `close()` runs out of time: every send still under way stops. */
  const closing = new AbortController();

  /** A send cut by a deadline, as the error `onError` hears: what it carried, and why. */
  function cut(reason: unknown, items: number, what: string): unknown {
    return reason instanceof TimeoutError
      ? new TimeoutError(`${items} ${what} not sent: ${reason.message}`, reason.timeoutMs, { cause: reason })
      : reason;
  }

  async function deliver(
    segments: IngestSegment[],
    signal: AbortSignal,
  ): Promise<{ sent: number; failed: number }> {
    let sent = 0;
    let failed = 0;
    for (const segment of segments) {
      const { writes, rejected } = plannedWrites(segment, batch, MAX_BODY_BYTES);
      if (rejected.length > 0) {
        failed += rejected.length;
        report(
          new ValidationError(
            `${rejected.length} merged row(s) too large for the endpoint; not sent`,
            rejected,
          ),
        );
      }
      for (const { write, items, what } of writes) {
        try {
          await sendToIngest(target, write, { ...posting, signal });
          sent += items;
        } catch (error) {
          failed += items;
          report(signal.aborted ? cut(signal.reason, items, what) : error);
        }
      }
    }
    totals.sent += sent;
    totals.failed += failed;
    return { sent, failed };
  }

  /** Send what is waiting, behind every send before it. */
  function enqueueAll(): Promise<{ sent: number; failed: number }> {
    const { segments, size } = backlog.take();
    if (size === 0) return chain.then(() => ({ sent: 0, failed: 0 }));
    inFlight += size;
    let signal = closing.signal;
    let stop = noop;
    if (!longLived) {
      // Per-request use: a deadline for every attempt and wait of this send.
      const deadline = new AbortController();
      const clock = setTimeout(
        () =>
          deadline.abort(
            new TimeoutError(`the ${deadlineMs} ms deadline of a per-request send ran out`, deadlineMs),
          ),
        deadlineMs,
      );
      stop = () => clearTimeout(clock);
      signal = AbortSignal.any([closing.signal, deadline.signal]);
    }
    const done = chain.then(() => deliver(segments, signal)).finally(() => {
      stop();
      inFlight -= size;
    });
    chain = done.catch(noop);
    return done;
  }

  async function flush(flushOptions: IngestFlushOptions = {}): Promise<IngestFlushResult> {
    try {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      const sending = enqueueAll();
      const limit = flushOptions.timeoutMs;
      if (limit === undefined) return { ...(await sending), pending: 0 };
      const clock = delay(checkDuration("timeoutMs", limit, 0));
      const result = await Promise.race([sending, clock.done.then(() => undefined)]);
      clock.cancel();
      return result === undefined
        ? { sent: 0, failed: 0, pending: backlog.size + inFlight }
        : { ...result, pending: 0 };
    } catch (error) {
      report(error);
      return { sent: 0, failed: 0, pending: backlog.size + inFlight };
    }
  }

  async function close(closeOptions: IngestFlushOptions = {}): Promise<IngestFlushResult> {
    closed = true;
    try {
      const limit = checkDuration("timeoutMs", closeOptions.timeoutMs, DEFAULT_DEADLINE_MS);
      const { pending } = await flush({ timeoutMs: limit });
      if (pending > 0) {
        closing.abort(new TimeoutError(`close() gave up after ${limit} ms`, limit));
        await chain; // every send stops at once, its calls reported
      }
    } catch (error) {
      report(error);
    }
    return { ...totals, pending: backlog.size + inFlight };
  }

  /** After a call was queued: send now, soon, or when asked. */
  function schedule(): void {
    if (longLived) {
      if (backlog.size >= batch) void enqueueAll();
      else timer ??= setTimeout(() => void flush(), intervalMs);
    } else if (options.waitUntil !== undefined && !scheduled) {
      scheduled = true;
      // Let the rest of this task's calls join the batch, then send in the background.
      const sending = delay(0).done.then(() => {
        scheduled = false;
        return flush();
      });
      try {
        options.waitUntil(sending);
      } catch (error) {
        report(waitUntilThrew(error));
      }
    }
  }

  /** Run one public call: refused after close, and nothing it does may throw into the caller. */
  function call(name: string, queue: () => void): void {
    try {
      if (closed) {
        report(new UserpilotError(`${name} was called after close(); it was not sent`));
        return;
      }
      queue();
      schedule();
    } catch (error) {
      report(error);
    }
  }

  function addRow(kind: BulkKind, row: unknown): void {
    call(callName(kind, "identify"), () => {
      const checked = checkedRow(kind, row);
      if (kind === "users") { for (const key of setByUserpilot(row)) warn(key); }
      backlog.addRow(kind, checked);
    });
  }

  const addEvent = (event: unknown): void => call("track", () => backlog.addEvent(checkedEvent(event)));

  function addDeletes(kind: BulkKind, ids: unknown): void {
    call(callName(kind, "delete"), () => backlog.addDeletes(kind, checkedIds(kind, ids)));
  }

  return {
    identify: (user) => addRow("users", user),
    identifyCompany: (company) => addRow("companies", company),
    track: (event) => addEvent(event),
    deleteUsers: (ids) => addDeletes("users", ids),
    deleteCompanies: (ids) => addDeletes("companies", ids),
    flush,
    close,
    [Symbol.asyncDispose]: () => close().then(noop),
  };
}

function fromEnv(
  env: Readonly<Record<string, string | undefined>>,
  options?: IngestClientOptions,
): IngestClient {
  const url = env["USERPILOT_INGEST_URL"];
  const credential = ingestCredentialFromEnv(env);
  const missing = [
    ...(url ? [] : ["USERPILOT_INGEST_URL"]),
    ...(credential ? [] : ["USERPILOT_INGEST_SIGNING_SECRET or USERPILOT_INGEST_KEY"]),
  ];
  if (url === undefined || url === "" || credential === undefined) {
    const verb = missing.length > 1 ? "are" : "is";
    throw new TypeError(`createIngestClient.fromEnv: ${missing.join(", and ")} ${verb} not set`);
  }
  return ingestClient({ url, ...credential }, options);
}

/**
 * A client for the ingestion endpoint: the whole endpoint (identify, companies, track, deletes)
 * from one client. Calls are validated when made and sent in batches: one POST per kind with the
 * calls of one request (per-request use, with `waitUntil` or `flush()`, each send bounded by
 * `deadlineMs`), or, in a long-lived process, every `flushAt` calls and at least every
 * `flushIntervalMs` across requests, until `close()`. Sends go one after another in call order
 * (so a later call always lands later, and a delete never overtakes or is overtaken), signed the
 * Standard Webhooks way with a `signingSecret` or with the bearer key and an `Idempotency-Key`,
 * one id per request reused on every retry, each with `User-Agent: userpilot-bulk/<version>`.
 * Failures go to `onError`, never into the caller's request: no call, `flush()` or `close()`
 * throws or rejects, whatever `waitUntil`, `fetch` or the endpoint do. Only a wrong setting
 * throws, here, when the client is made.
 *
 * A long-lived process that exits without `close()` loses what is still queued (up to `flushAt`
 * calls, or `flushIntervalMs` of them): close it in the process's shutdown handler, before it
 * exits (the Node server in `examples/node-server.mjs` does this on `SIGTERM`).
 *
 * @example
 * ```ts
 * // A long-lived server: batched across requests, flushed on shutdown.
 * const userpilot = createIngestClient.fromEnv(env, { flushAt: 500, flushIntervalMs: 5000 });
 * app.post("/login", (req, res) => { userpilot.identify({ user_id: req.user.id }); res.end(); });
 * onShutdown(async () => { await userpilot.close({ timeoutMs: 10_000 }); }); // your runtime's SIGTERM handler
 * ```
 * @example
 * ```ts
 * // A Worker: one POST per request, sent after the response, within 25 s.
 * const userpilot = createIngestClient(
 *   { url: env.USERPILOT_INGEST_URL, signingSecret: env.USERPILOT_INGEST_SIGNING_SECRET },
 *   { waitUntil: (p) => ctx.waitUntil(p), onError: (e) => console.warn(e.message) },
 * );
 * userpilot.identify({ user_id: "user_123", metadata: { plan: "pro" } });
 * userpilot.track({ user_id: "user_123", event_name: "upgraded" });
 * ```
 */
export const createIngestClient: CreateIngestClient = Object.assign(ingestClient, { fromEnv });
