import type { Context, Env, MiddlewareHandler } from "hono";
import { toHex } from "../core/encoding.ts";
import { UserpilotError } from "../core/errors.ts";
import {
  createIngestClient,
  DEFAULT_FLUSH_AT,
  DEFAULT_FLUSH_INTERVAL_MS,
  waitUntilThrew,
} from "../core/ingest-client.ts";
import type { IngestTarget } from "../core/ingest-post.ts";
import type { IngestClient, IngestFlushOptions, IngestFlushResult } from "../core/ingest-types.ts";
import type { CompanyInput, EventInput, UserInput } from "../core/inputs.ts";
import type { FetchFunction } from "../core/transport.ts";
import { RecentDigests } from "./recent-digests.ts";

/** What handlers call as `c.var.userpilot` (or `c.get("userpilot")`): never throws, never delays. */
export interface UserpilotCalls {
  identify(user: UserInput): void;
  identifyCompany(company: CompanyInput): void;
  track(event: EventInput): void;
}

/**
 * The variable the middleware sets. Name it in your app's `Variables` (`Variables: UserpilotVariables
 * & { user?: … }`) for `c.var.userpilot` to be typed in every handler, or chain the app's calls
 * after `app.use(userpilotIdentify(…))`, which adds it. (Not a global `ContextVariableMap`
 * augmentation: JSR packages cannot declare one.)
 */
export type UserpilotVariables = {
  /** Set by `userpilotIdentify`: identify and track through the ingestion endpoint. */
  userpilot: UserpilotCalls;
};

/**
 * Options of {@link userpilotIdentify}: `client` or `ingest`. `E` is the app's Hono env
 * (`{ Bindings, Variables }`), so the callbacks see the app's `c.env` and `c.var` with their types.
 */
// `any` as Hono's own default env is: an app that names no env gets untyped bindings, as with Hono.
// deno-lint-ignore no-explicit-any
export interface UserpilotIdentifyOptions<E extends Env = any> {
  /**
   * A long-lived client shared by every request (a Node, Bun or Deno server): calls of all
   * requests are batched together, and you `close()` it on shutdown. On Workers each request's
   * calls are flushed with `executionCtx.waitUntil`.
   */
  client?: IngestClient | undefined;
  /**
   * Or the ingestion endpoint and its bearer key or `whsec_…` signing secret. On Workers (an
   * `executionCtx`), a client per request, sent after the response with `waitUntil`; on a server,
   * one long-lived client per endpoint, made on first use, closed by the middleware's `close()`.
   */
  ingest?: IngestTarget | ((c: Context<E>) => IngestTarget) | undefined;
  /**
   * The current user as `{ user_id, company_id?, metadata? }`, or `undefined` (or `null`) to
   * skip, identified after each request when it changed. Checked at run time too: an invalid row
   * goes to `onError`.
   */
  getUser?:
    | ((c: Context<E>) => UserInput | null | undefined | Promise<UserInput | null | undefined>)
    | undefined;
  /** How long an identical profile is not sent again. Default 10 minutes. */
  ttlMs?: number | undefined;
  /** How many recent profiles are remembered (per isolate or process). Default 1,000. */
  cacheSize?: number | undefined;
  /** With `ingest` on a server: the long-lived client's `flushAt` (default 1,000). */
  flushAt?: number | undefined;
  /** With `ingest` on a server: the long-lived client's `flushIntervalMs` (default 10,000). */
  flushIntervalMs?: number | undefined;
  /** With `ingest`: the client's `fetch`. */
  fetch?: FetchFunction | undefined;
  /** Told of failures, which never reach the request. (With `client`, that client's `onError` is.) */
  onError?: ((error: UserpilotError) => void) | undefined;
  /** With `ingest`: the client's `onWarning` (default `console.warn`). */
  onWarning?: ((message: string) => void) | undefined;
}

/** The app's env with the middleware's variable added (`E` untyped: the variable alone). */
export type WithUserpilot<E extends Env> = 0 extends 1 & E ? { Variables: UserpilotVariables }
  : E & { Variables: UserpilotVariables };

/** The middleware, and `close()` for the long-lived clients it made from `ingest` on a server. */
// deno-lint-ignore no-explicit-any
export type UserpilotMiddleware<E extends Env = any> =
  & MiddlewareHandler<WithUserpilot<E>>
  & {
    /** Close every client this middleware made (each as `IngestClient.close`); resolves with their totals. */
    close(options?: IngestFlushOptions): Promise<IngestFlushResult>;
  };

/** JSON with keys sorted, so `{a, b}` and `{b, a}` are the same profile. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value instanceof Date) return JSON.stringify(value);
  const entries = Object.keys(value).sort().map((key) =>
    `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`
  );
  return `{${entries.join(",")}}`;
}

async function digest(value: unknown): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical(value))));
}

function waitUntilOf(c: Context): ((promise: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx;
    return (promise) => ctx.waitUntil(promise);
  } catch {
    return undefined; // Not on Workers (Hono throws when there is no ExecutionContext).
  }
}

/**
 * Hono middleware for the ingestion endpoint, on Workers and on servers alike. Handlers get
 * `c.var.userpilot` (`identify`, `identifyCompany`, `track`); with `getUser`, the current user is
 * identified after each request, skipped when that user's profile is the one sent last (a
 * SHA-256 of the row per user, kept in a bounded in-memory cache). On Workers the calls of a
 * request go in one POST per kind after the response (`executionCtx.waitUntil`); on a Node, Bun
 * or Deno server they are batched across requests by one long-lived client, which you close on
 * shutdown. Failures go to `onError`; the app's response is never affected.
 *
 * @example
 * ```ts
 * // A server: one client for the process, closed on SIGTERM.
 * const userpilot = createIngestClient.fromEnv(process.env, { flushAt: 500, flushIntervalMs: 5_000 });
 * app.use(userpilotIdentify({ client: userpilot, getUser: (c) => c.var.user && { user_id: c.var.user.id } }));
 * app.post("/invoices", (c) => { c.var.userpilot.track({ user_id: "user_123", event_name: "invoice_paid" }); return c.body(null, 204); });
 * process.on("SIGTERM", async () => { await userpilot.close({ timeoutMs: 10_000 }); process.exit(0); });
 * ```
 * @example
 * ```ts
 * // Workers: a client per request, sent after the response.
 * type AppEnv = {
 *   Bindings: { USERPILOT_INGEST_URL: string; USERPILOT_INGEST_SIGNING_SECRET: string };
 *   Variables: { user?: { id: string; plan: string } };
 * };
 * const app = new Hono<AppEnv>();
 * // The type argument gives the callbacks the app's c.env and c.var, as with Hono's createMiddleware.
 * app.use(userpilotIdentify<AppEnv>({
 *   ingest: (c) => ({ url: c.env.USERPILOT_INGEST_URL, signingSecret: c.env.USERPILOT_INGEST_SIGNING_SECRET }),
 *   getUser: (c) => c.var.user && { user_id: c.var.user.id, metadata: { plan: c.var.user.plan } },
 * }));
 * ```
 */
// deno-lint-ignore no-explicit-any
export function userpilotIdentify<E extends Env = any>(
  options: UserpilotIdentifyOptions<E>,
): UserpilotMiddleware<E> {
  if (options.client === undefined && options.ingest === undefined) {
    throw new TypeError(
      "userpilotIdentify needs a client (servers) or ingest (the endpoint and its credential)",
    );
  }
  const recent = new RecentDigests(options.cacheSize ?? 1000, options.ttlMs ?? 10 * 60 * 1000);
  const report = (error: unknown): void => {
    const failure = error instanceof UserpilotError
      ? error
      : new UserpilotError(`userpilotIdentify: ${error instanceof Error ? error.message : "failed"}`, {
        cause: error,
      });
    try {
      options.onError?.(failure);
    } catch {
      // The app's response is already made; nothing here may replace it.
    }
  };
  /** Long-lived clients made from `ingest` on a server, one per endpoint and credential. */
  const owned = new Map<string, IngestClient>();

  function serverClient(target: IngestTarget): IngestClient {
    const key = JSON.stringify([target.url, target.key ?? null, target.signingSecret ?? null]);
    let client = owned.get(key);
    if (client === undefined) {
      client = createIngestClient(target, {
        fetch: options.fetch,
        flushAt: options.flushAt ?? DEFAULT_FLUSH_AT,
        flushIntervalMs: options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS,
        onWarning: options.onWarning,
        onError: (error) => {
          recent.clear(); // which users a failed batch held is not known: send every profile again
          report(error);
        },
      });
      owned.set(key, client);
    }
    return client;
  }

  const middleware: MiddlewareHandler<E> = async function userpilotIdentifyMiddleware(c, next) {
    const waitUntil = waitUntilOf(c);
    let perRequest: IngestClient | undefined;
    let sentDigest: { id: string; key: string } | undefined;
    const clientOf = (): IngestClient => {
      if (options.client !== undefined) return options.client;
      const target = typeof options.ingest === "function" ? options.ingest(c) : options.ingest!;
      if (waitUntil === undefined) return serverClient(target);
      // Sent once, after the response, with every call of this request (see below).
      return perRequest ??= createIngestClient(target, {
        fetch: options.fetch,
        onWarning: options.onWarning,
        onError: (error) => {
          // Not delivered: let the next request send this profile again.
          if (sentDigest !== undefined) recent.forget(sentDigest.id, sentDigest.key);
          report(error);
        },
      });
    };
    const safely = (send: (client: IngestClient) => void): void => {
      try {
        send(clientOf());
      } catch (error) {
        report(error);
      }
    };
    const calls: UserpilotCalls = {
      identify: (user) => safely((client) => client.identify(user)),
      identifyCompany: (company) => safely((client) => client.identifyCompany(company)),
      track: (event) => safely((client) => client.track(event)),
    };
    // The app's env `E` need not name the variable; the middleware's type adds it for the app.
    (c as unknown as Context<{ Variables: UserpilotVariables }>).set("userpilot", calls);
    await next();
    // Everything below runs after the app answered: any failure is reported, never thrown.
    try {
      const user = options.getUser === undefined ? undefined : await options.getUser(c);
      if (user !== undefined && user !== null) {
        // Typed, but a JavaScript caller's row may be anything until validated.
        const id = typeof (user as { user_id?: unknown }).user_id === "string" ? user.user_id : "";
        const key = await digest(user);
        if (!recent.isLatest(id, key)) {
          const client = clientOf();
          recent.remember(id, key);
          sentDigest = { id, key };
          client.identify(user);
        }
      }
    } catch (error) {
      report(error);
    }
    // On Workers: this request's calls, in one POST per kind, within the request's lifetime.
    const sending = waitUntil === undefined ? undefined : (perRequest ?? options.client)?.flush();
    if (sending !== undefined) {
      try {
        waitUntil!(sending);
      } catch (error) {
        report(waitUntilThrew(error));
      }
    }
  };

  async function close(closeOptions?: IngestFlushOptions): Promise<IngestFlushResult> {
    const results = await Promise.all([...owned.values()].map((client) => client.close(closeOptions)));
    return {
      sent: results.reduce((sum, result) => sum + result.sent, 0),
      failed: results.reduce((sum, result) => sum + result.failed, 0),
      pending: results.reduce((sum, result) => sum + result.pending, 0),
    };
  }

  return Object.assign(middleware as unknown as MiddlewareHandler<WithUserpilot<E>>, { close });
}
