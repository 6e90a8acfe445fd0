import * as v from "valibot";
import { type BulkKind, validateRows } from "./build-requests.ts";
import { TimeoutError, UserpilotError, ValidationError } from "./errors.ts";
import { type TrackEvent, TrackEventSchema } from "./event-schema.ts";
import { IngestBacklog, type IngestSegment, plannedWrites } from "./ingest-backlog.ts";
import {
  checkIngestTarget,
  ingestBaseUrl,
  type IngestTarget,
  type PostToIngestOptions,
  sendToIngest,
} from "./ingest-post.ts";
import type { CompanyInput, EventInput, UserInput } from "./inputs.ts";
import { DEFAULT_ROW_LIMITS, INGEST_MESSAGE_BYTES, MAX_ROWS_PER_REQUEST } from "./limits.ts";
import { setByUserpilot, setByUserpilotWarning } from "./reserved-properties.ts";
import type { RetryOptions } from "./retry.ts";
import { createIdSchema } from "./schemas.ts";
import type { FetchFunction } from "./transport.ts";
import { utf8Length } from "./utf8.ts";
import { checkLimit, toRowIssues } from "./validate-rows.ts";

export type { IngestTarget } from "./ingest-post.ts";

/** Options of {@link createIngestClient}. */
export interface IngestClientOptions {
  /** Defaults to the global `fetch`. */
  fetch?: FetchFunction | undefined;
  /**
   * Per-request use: keeps the send alive after the response is returned (a Worker's
   * `ctx.waitUntil`, or `event.waitUntil` in edge middleware). With it, calls are sent on their
   * own right after the current task; without it (and without `flushAt` / `flushIntervalMs`),
   * call `flush()`. If it throws (outside a request, say), the send goes on without it and
   * `onError` hears why.
   */
  waitUntil?: ((promise: Promise<unknown>) => void) | undefined;
  /**
   * Per-request use: the longest a send may take, every attempt and wait included, counted from
   * the flush that starts it. Default 25,000 ms, inside the 30 s a Worker's `waitUntil` grants, so
   * a send cut short is reported to `onError` rather than cut off unheard.
   */
  deadlineMs?: number | undefined;
  /**
   * Long-lived use (a Node, Bun or Deno server, a queue worker): send as soon as this many calls
   * are waiting, in bodies of at most this many rows (1 to 10,000). Default 1,000 once
   * `flushIntervalMs` is given. Call `close()` before the process exits.
   */
  flushAt?: number | undefined;
  /**
   * Long-lived use: send what is waiting at most this long (ms) after the first of it arrived.
   * Default 10,000 once `flushAt` is given.
   */
  flushIntervalMs?: number | undefined;
  /**
   * Told of every failure: calls refused before sending, sends that failed after retries, sends
   * cut by the deadline or by `close()`'s timeout, a `waitUntil` that threw. Never thrown.
   */
  onError?: ((error: UserpilotError) => void) | undefined;
  /**
   * Told of a call that is sent but may not do what it seems: a property Userpilot sets itself
   * (`first_seen_at`, `last_seen_at`). Once per property per client. Default `console.warn`.
   */
  onWarning?: ((message: string) => void) | undefined;
  /** Longest wait for one attempt. Default 10,000 ms. */
  timeoutMs?: number | undefined;
  /**
   * Retries of a send (network errors, 408, 429, 5xx). Default: 3 attempts, 200 ms to 2 s apart;
   * long-lived clients 5 attempts, 500 ms to 8 s apart.
   */
  retry?: RetryOptions | false | undefined;
}

/** Options of {@link IngestClient.flush} and {@link IngestClient.close}. */
export interface IngestFlushOptions {
  /**
   * The longest to wait. `flush()` then resolves with what is still `pending` (its sends go on);
   * `close()` stops its sends, reports what they carried to `onError` as not sent, and resolves.
   * Default: `flush()` waits for its sends (bounded by the retry policy, and the deadline in
   * per-request use); `close()` waits at most 25,000 ms.
   */
  timeoutMs?: number | undefined;
}

/** What a flush (or a client's whole life, for `close()`) did. */
export interface IngestFlushResult {
  /** Rows (merged by id), events and ids the endpoint accepted (202). */
  readonly sent: number;
  /** Rows, events and ids whose send failed or was cut short; each failure went to `onError`. */
  readonly failed: number;
  /** Calls still waiting or being sent when a `timeoutMs` ran out (0 once settled). */
  readonly pending: number;
}

/** The whole ingestion endpoint from one client, batched; nothing it does throws into the caller. */
export interface IngestClient {
  /** Queue one user. Invalid rows (checked at run time too) go to `onError`. */
  identify(user: UserInput): void;
  /** Queue one company. Invalid rows (checked at run time too) go to `onError`. */
  identifyCompany(company: CompanyInput): void;
  /** Queue one event (`POST /v1/track`, one request each), sent after the identifies queued with it. */
  track(event: EventInput): void;
  /**
   * Queue a deletion of users (`DELETE /v1/users`). Calls before it reach the endpoint before it,
   * calls after it after it.
   */
  deleteUsers(ids: readonly string[]): void;
  /** Queue a deletion of companies (`DELETE /v1/companies`), ordered like {@link deleteUsers}. */
  deleteCompanies(ids: readonly string[]): void;
  /**
   * Send everything queued (one POST per kind, more only past the batch size) and wait for every
   * send under way, or until `timeoutMs`. Resolves with what this flush sent; never rejects.
   */
  flush(options?: IngestFlushOptions): Promise<IngestFlushResult>;
  /**
   * Flush, wait for every send to be accepted or reported failed (at most `timeoutMs`, default
   * 25,000 ms, after which what is left is reported not sent), and refuse later calls (they go to
   * `onError`). Resolves with the totals of the client's whole life; never rejects.
   */
  close(options?: IngestFlushOptions): Promise<IngestFlushResult>;
  /** `close()`, for `await using client = createIngestClient(…)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** `createIngestClient`, and `createIngestClient.fromEnv`. */
export interface CreateIngestClient {
  (target: IngestTarget, options?: IngestClientOptions): IngestClient;
  /**
   * A client configured from an environment object (a Worker's `env`, Node's `process.env`,
   * Deno's `Deno.env.toObject()`): `USERPILOT_INGEST_URL`, and `USERPILOT_INGEST_SIGNING_SECRET`
   * (preferred when both are set) or `USERPILOT_INGEST_KEY`. Throws a `TypeError` naming every
   * missing setting, never a value.
   */
  fromEnv(env: Readonly<Record<string, string | undefined>>, options?: IngestClientOptions): IngestClient;
}

/** Bodies stay well under the endpoint's default 5 MB limit. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Long-lived use: calls a body may carry, and how long the first of them may wait. */
export const DEFAULT_FLUSH_AT: number = 1000;
export const DEFAULT_FLUSH_INTERVAL_MS: number = 10_000;
/** Per-request sends and `close()`: inside the 30 s of a Worker's `waitUntil` and of a container's SIGTERM grace. */
const DEFAULT_DEADLINE_MS = 25_000;

const noop = (): void => {};
const IdSchema = createIdSchema("id", DEFAULT_ROW_LIMITS);

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
    const name = kind === "users" ? "identify" : "identifyCompany";
    call(name, () => {
      const { valid, rejected } = validateRows([row], { kind });
      if (rejected.length > 0) {
        throw new ValidationError(`${name} was given an invalid row; it was not sent`, rejected);
      }
      if (kind === "users") { for (const key of setByUserpilot(row)) warn(key); }
      // The validated copy: the caller may reuse or change its object before the send.
      backlog.addRow(kind, valid[0]!.row);
    });
  }

  function addEvent(event: unknown): void {
    call("track", () => {
      const result = v.safeParse(TrackEventSchema, event);
      if (!result.success) {
        throw new ValidationError(
          "track was given an invalid event; it was not sent",
          toRowIssues(0, result.issues),
        );
      }
      const bytes = utf8Length(JSON.stringify(result.output));
      if (bytes > INGEST_MESSAGE_BYTES) {
        throw new ValidationError("track was given an event too large for the endpoint; it was not sent", [
          { index: 0, path: "", message: `event is ${bytes} bytes as JSON, over ${INGEST_MESSAGE_BYTES}` },
        ]);
      }
      backlog.addEvent(result.output as TrackEvent);
    });
  }

  function addDeletes(kind: BulkKind, ids: unknown): void {
    const name = kind === "users" ? "deleteUsers" : "deleteCompanies";
    call(name, () => {
      const list: unknown[] = Array.isArray(ids) ? ids : [];
      const issues = list.flatMap((id, index) => {
        const result = v.safeParse(IdSchema, id);
        return result.success ? [] : toRowIssues(index, result.issues);
      });
      if (!Array.isArray(ids)) issues.push({ index: 0, path: "", message: "ids must be an array of ids" });
      if (issues.length > 0) {
        throw new ValidationError(`${name} was given invalid ids; none was sent`, issues);
      }
      backlog.addDeletes(kind, list as string[]);
    });
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
  const signingSecret = env["USERPILOT_INGEST_SIGNING_SECRET"];
  const key = env["USERPILOT_INGEST_KEY"];
  const missing = [
    ...(url ? [] : ["USERPILOT_INGEST_URL"]),
    ...(signingSecret || key ? [] : ["USERPILOT_INGEST_SIGNING_SECRET or USERPILOT_INGEST_KEY"]),
  ];
  if (missing.length > 0) {
    throw new TypeError(
      `createIngestClient.fromEnv: ${missing.join(", and ")} ${missing.length > 1 ? "are" : "is"} not set`,
    );
  }
  return ingestClient(signingSecret ? { url: url!, signingSecret } : { url: url!, key: key! }, options);
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
