import { type BulkKind, planChunks, validateRows } from "./build-requests.ts";
import { type UserpilotError, ValidationError } from "./errors.ts";
import {
  checkIngestTarget,
  ingestBaseUrl,
  type IngestTarget,
  postToIngest,
  type PostToIngestOptions,
} from "./ingest-post.ts";
import type { CompanyInput, UserInput } from "./inputs.ts";
import type { RetryOptions } from "./retry.ts";
import type { FetchFunction } from "./transport.ts";

export type { IngestTarget } from "./ingest-post.ts";

/** Options of {@link createIngestClient}. */
export interface IngestClientOptions {
  /** Defaults to the global `fetch`. */
  fetch?: FetchFunction | undefined;
  /**
   * Keeps the send alive after the response is returned: a Worker's `ctx.waitUntil`, or
   * `event.waitUntil` in edge middleware. With it, calls are sent on their own right after the
   * current task; without it, call `flush()`.
   */
  waitUntil?: ((promise: Promise<unknown>) => void) | undefined;
  /** Told of every failure: rows refused before sending, and sends that failed after retries. Never thrown. */
  onError?: ((error: UserpilotError) => void) | undefined;
  /** Longest wait for one attempt. Default 10,000 ms. */
  timeoutMs?: number | undefined;
  /** Retries of a send (network errors, 408, 429, 5xx). Default: 3 attempts, 200 ms to 2 s apart. */
  retry?: RetryOptions | false | undefined;
}

/** What a flush did. */
export interface IngestFlushResult {
  /** Rows the endpoint accepted (202). */
  readonly sent: number;
  /** Rows whose send failed; each failure went to `onError`. */
  readonly failed: number;
}

/** Identify users and companies through the ingestion endpoint, batched per request. */
export interface IngestClient {
  /** Queue one user. Invalid rows (checked at run time too) go to `onError`. */
  identify(user: UserInput): void;
  /** Queue one company. Invalid rows (checked at run time too) go to `onError`. */
  identifyCompany(company: CompanyInput): void;
  /** Send everything queued: one POST per kind (more only past 10,000 rows). Never rejects. */
  flush(): Promise<IngestFlushResult>;
}

/** Bodies stay well under the endpoint's default 5 MB limit. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * A client for the ingestion endpoint, for the code that runs on each request: edge middleware,
 * Workers, Deno Deploy, Bun and Node servers. Calls made during one request are batched into one
 * POST per kind (signed the Standard Webhooks way when given a `signingSecret`, else sent with the
 * bearer key and an `Idempotency-Key`), each with one id reused on every retry; with `waitUntil`
 * the send never delays the response; failures are reported to `onError`, never thrown into the
 * caller's request.
 *
 * @example
 * ```ts
 * export default {
 *   async fetch(request, env, ctx) {
 *     const userpilot = createIngestClient(
 *       { url: "https://ingest.example.com", signingSecret: env.INGEST_SIGNING_SECRET },
 *       { waitUntil: (p) => ctx.waitUntil(p), onError: (e) => console.warn(e.message) },
 *     );
 *     userpilot.identify({ user_id: "user_123", metadata: { plan: "pro" } });
 *     return new Response("hello");
 *   },
 * };
 * ```
 */
export function createIngestClient(target: IngestTarget, options: IngestClientOptions = {}): IngestClient {
  ingestBaseUrl(target.url);
  checkIngestTarget(target, "createIngestClient");
  const posting: PostToIngestOptions = {
    fetch: options.fetch,
    timeoutMs: options.timeoutMs,
    retry: options.retry,
  };
  const report = (error: UserpilotError): void => {
    try {
      options.onError?.(error);
    } catch {
      // A throwing callback must not break the caller's request either.
    }
  };
  const queued: Record<BulkKind, unknown[]> = { users: [], companies: [] };
  let scheduled = false;

  // One id per POST, the same on every attempt (postToIngest): the endpoint applies an id once,
  // so a retry of a send whose 202 was lost is answered with that 202 and changes nothing.
  async function post(kind: BulkKind, body: string): Promise<boolean> {
    try {
      await postToIngest(target, kind, body, posting);
      return true;
    } catch (error) {
      report(error as UserpilotError);
      return false;
    }
  }

  async function flush(): Promise<IngestFlushResult> {
    let sent = 0;
    let failed = 0;
    for (const kind of ["users", "companies"] as const) {
      const rows = queued[kind].splice(0);
      if (rows.length === 0) continue;
      const { chunks } = planChunks(rows, { kind, maxBytes: MAX_BODY_BYTES });
      for (const chunk of chunks) {
        if (await post(kind, chunk.body)) sent += chunk.rows.length;
        else failed += chunk.rows.length;
      }
    }
    return { sent, failed };
  }

  function add(kind: BulkKind, row: unknown): void {
    const { valid, rejected } = validateRows([row], { kind });
    if (rejected.length > 0) {
      report(
        new ValidationError(
          `${kind === "users" ? "identify" : "identifyCompany"} was given an invalid row; it was not sent`,
          rejected,
        ),
      );
      return;
    }
    // The validated copy: the caller may reuse or change its object before the send.
    queued[kind].push(valid[0]!.row);
    if (options.waitUntil !== undefined && !scheduled) {
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

  return {
    identify: (user) => add("users", user),
    identifyCompany: (company) => add("companies", company),
    flush,
  };
}
