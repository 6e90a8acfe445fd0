import {
  type BulkKind,
  type FetchFunction,
  INGEST_MESSAGE_BYTES,
  type IngestTarget,
  newRequestId,
  planWindows,
  postToIngest,
  type RetryOptions,
} from "../../mod.ts";
import { hash64 } from "../core/fingerprint.ts";
import type { PostgresPosition } from "../postgres/mod.ts";
import type { ResumeFile } from "./resume.ts";
import { rest, take } from "./rows.ts";
import type { Session } from "./session.ts";

/** What a run through the gateway works with. */
export interface GatewayOptions {
  /** The ingestion endpoint's base URL, and its ingest key or signing secret. */
  readonly target: IngestTarget;
  readonly kind: BulkKind;
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly retry: RetryOptions;
  readonly timeoutMs: number | undefined;
  readonly signal: AbortSignal;
  readonly resume: ResumeFile | undefined;
  readonly fetch?: FetchFunction | undefined;
}

/**
 * Send the input through the ingestion endpoint (the gateway) instead of to Userpilot: each
 * window's bodies (at most `maxRows` rows and `maxBytes` bytes, as Userpilot's bulk route takes
 * them) go to `POST <url>/v1/{kind}/bulk_identify`, and the gateway's single sequencer (its
 * Durable Object) delivers them, so this run never competes with it for Userpilot's job slot.
 *
 * Each body carries a request id (`Idempotency-Key` with a key, `webhook-id` when signed) named after the run and the body's place in the input,
 * the same on every retry (network errors, 408, 429, 5xx, with the core's backoff) and, with
 * `--resume`, on a rerun: a body the gateway already accepted is answered with its first 202 and
 * its rows are neither queued nor stamped again. The checkpoint moves a whole window at a time, so
 * a rerun cuts the very same bodies.
 *
 * @example
 * ```ts
 * await deliverViaGateway(session, { target: { url: "https://ingest.example.com", key }, kind: "users", ... });
 * ```
 */
export async function deliverViaGateway(session: Session, options: GatewayOptions): Promise<void> {
  const { kind, maxRows, maxBytes, resume, signal } = options;
  const { counters, progress } = session;
  // A row the gateway could not queue (over one Queue message) is rejected here, like any invalid
  // row, and the rest are sent: otherwise the gateway would refuse its whole body.
  const plan = {
    kind,
    maxRows,
    maxBytes,
    maxRowBytes: INGEST_MESSAGE_BYTES,
    maxIssues: Number.POSITIVE_INFINITY,
  };
  const { stream } = session;
  // A source read in id order (PostgreSQL) goes on after an id, and counts its rows from there.
  const skip = stream.keyed === undefined ? resume?.checkpoint ?? 0 : 0;
  stream.keyed?.startAt(resume?.after);
  const rows = stream.rows();
  if (skip > 0) {
    // Accepted by the gateway in earlier runs: read and checked again for the report, not sent.
    for await (const window of planWindows(take(rows, skip), plan)) session.window(window, 0);
    counters.rowsSkipped = counters.rowsPlanned;
  }
  // From PostgreSQL a rerun's rows are counted from where it goes on: name its bodies after that too.
  const after = stream.keyed === undefined ? undefined : resume?.after;
  const runId = `${resume?.runId ?? newRequestId()}${after === undefined ? "" : `-${idDigest(after)}`}`;
  const { target } = options;
  for await (const window of planWindows(rest(rows), plan)) {
    session.window(window, skip);
    const start = skip + window.start;
    for (const [number, chunk] of window.chunks.entries()) {
      signal.throwIfAborted();
      const { replayed } = await postToIngest(target, kind, chunk.body, {
        id: `${runId}-${start}-${number}`,
        retry: options.retry,
        timeoutMs: options.timeoutMs,
        fetch: options.fetch,
        signal,
        onRetry: (_attempt, delayMs, reason) =>
          progress.note(`retrying in ${Math.round(delayMs)} ms: ${reason}`),
      });
      if (replayed) {
        progress.note("the gateway had accepted this body before (its answer was lost); not queued again");
      }
      counters.rowsSubmitted += chunk.rows.length;
      counters.requests++;
      progress.update("submitted", counters);
    }
    const end = start + window.rows;
    if (stream.keyed === undefined) resume?.reached(end, true);
    else resume?.reached(0, true, stream.position(end));
  }
}

/** A short name of where a keyed rerun goes on, for its bodies' idempotency keys. */
function idDigest(position: PostgresPosition): string {
  const [hi, lo] = hash64(`${position.inclusive ? ">=" : ">"}${position.after}`);
  return `${hi.toString(36)}${lo.toString(36)}`;
}
