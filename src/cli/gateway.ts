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
  const skip = resume?.checkpoint ?? 0;
  const rows = session.stream.rows();
  if (skip > 0) {
    // Accepted by the gateway in earlier runs: read and checked again for the report, not sent.
    for await (const window of planWindows(take(rows, skip), plan)) session.window(window, 0);
    counters.rowsSkipped = counters.rowsPlanned;
  }
  const runId = resume?.runId ?? newRequestId();
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
    resume?.reached(start + window.rows, true);
  }
}
