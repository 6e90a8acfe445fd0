import type { Context, Env, MiddlewareHandler } from "hono";
import { toHex } from "../core/encoding.ts";
import { UserpilotError } from "../core/errors.ts";
import { createIngestClient, type IngestTarget } from "../core/ingest-client.ts";
import type { UserInput } from "../core/inputs.ts";
import type { FetchFunction } from "../core/transport.ts";
import { RecentDigests } from "./recent-digests.ts";

/**
 * Options of {@link userpilotIdentify}. `E` is the app's Hono env (`{ Bindings, Variables }`), so
 * the callbacks see the app's `c.env` and `c.var` / `c.get()` with their types.
 */
// `any` as Hono's own default env is: an app that names no env gets untyped bindings, as with Hono.
// deno-lint-ignore no-explicit-any
export interface UserpilotIdentifyOptions<E extends Env = any> {
  /** The ingestion endpoint and its bearer key or `whsec_…` signing secret. */
  ingest: IngestTarget | ((c: Context<E>) => IngestTarget);
  /**
   * The current user as `{ user_id, company_id?, metadata? }`, or `undefined` (or `null`) to
   * skip. Checked at run time too: an invalid row goes to `onError`.
   */
  getUser: (
    c: Context<E>,
  ) => UserInput | null | undefined | Promise<UserInput | null | undefined>;
  /** How long an identical profile is not sent again. Default 10 minutes. */
  ttlMs?: number | undefined;
  /** How many recent profiles are remembered (per isolate). Default 1,000. */
  cacheSize?: number | undefined;
  fetch?: FetchFunction | undefined;
  /** Told of failures, which never reach the request. */
  onError?: ((error: UserpilotError) => void) | undefined;
}

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
 * Hono middleware that identifies the current user through the ingestion endpoint in the
 * background after each request, and skips the call when that user's profile is the one sent
 * last (a SHA-256 of the row per user, kept in a bounded in-memory cache). Failures go to
 * `onError`; the app's response is never affected.
 *
 * @example
 * ```ts
 * import { userpilotIdentify } from "userpilot-bulk/hono";
 * type AppEnv = {
 *   Bindings: { INGEST_SIGNING_SECRET: string };
 *   Variables: { user?: { id: string; plan: string } };
 * };
 * const app = new Hono<AppEnv>();
 * // The type argument gives the callbacks the app's c.env and c.var, as with Hono's createMiddleware.
 * app.use(userpilotIdentify<AppEnv>({
 *   ingest: (c) => ({ url: "https://ingest.example.com", signingSecret: c.env.INGEST_SIGNING_SECRET }),
 *   getUser: (c) => c.var.user && { user_id: c.var.user.id, metadata: { plan: c.var.user.plan } },
 * }));
 * ```
 */
// deno-lint-ignore no-explicit-any
export function userpilotIdentify<E extends Env = any>(
  options: UserpilotIdentifyOptions<E>,
): MiddlewareHandler<E> {
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
  return async function userpilotIdentifyMiddleware(c, next) {
    await next();
    // Everything below runs after the app answered: any failure is reported, never thrown.
    try {
      const user = await options.getUser(c);
      if (user === undefined || user === null) return;
      // Typed, but a JavaScript caller's row may be anything until validated.
      const id = typeof (user as { user_id?: unknown }).user_id === "string" ? user.user_id : "";
      const key = await digest(user);
      if (recent.isLatest(id, key)) return;
      const waitUntil = waitUntilOf(c);
      const client = createIngestClient(
        typeof options.ingest === "function" ? options.ingest(c) : options.ingest,
        {
          fetch: options.fetch,
          waitUntil,
          onError: (error) => {
            recent.forget(id, key); // not delivered: let the next request try again
            report(error);
          },
        },
      );
      recent.remember(id, key);
      client.identify(user);
      if (waitUntil === undefined) void client.flush();
    } catch (error) {
      report(error);
    }
  };
}
