/** Queueing an accepted request, once per request id, from a route (`accept-request.ts` decides). @module */
import type { Context } from "hono";
import { toHex } from "../../core/encoding.ts";
import type { AppEnv } from "../app-env.ts";
import { audited, deliveryStub } from "../delivery/index.ts";
import { log } from "../log.ts";
import { type AcceptDeps, acceptRequest, type RequestIdEntry } from "./accept-request.ts";
import { acceptanceStamp } from "./messages.ts";
import { claimRequest, confirmRequest, releaseRequest } from "./replay-guard.ts";
import type { Accepted } from "./messages.ts";

const encoder = new TextEncoder();
const sha256Hex = async (data: BufferSource): Promise<string> =>
  toHex(await crypto.subtle.digest("SHA-256", data));

/**
 * Where the guard keeps a request id, and what the request it names looked like: SHA-256 hex of
 * the scoped id (bounded, and spread evenly over the guard's shards), and of the method, path and
 * body (so the same id for another request is told apart).
 */
export async function guardEntryOf(
  id: string,
  method: string,
  path: string,
  body: Uint8Array,
): Promise<{ key: string; fingerprint: string }> {
  const route = encoder.encode(`${method} ${path}\n`);
  const message = new Uint8Array(route.length + body.length);
  message.set(route, 0);
  message.set(body, route.length);
  return { key: await sha256Hex(encoder.encode(id)), fingerprint: await sha256Hex(message) };
}

/**
 * {@link acceptRequest} for a route: the Worker's Queue, delivery object and replay guard, and the
 * answer as a response (202, 422, or 503 with `Retry-After`).
 *
 * @example
 * ```ts
 * app.post("/v1/track", ingestAuth(), requestId(), jsonBody(TrackBody), (c) => acceptOnce(c, c.req.valid("json"), c.get("requestId")));
 * ```
 */
export async function acceptOnce(
  c: Context<AppEnv>,
  ingested: Accepted,
  id: string | undefined,
): Promise<Response> {
  const guard = c.env.REPLAY_GUARD;
  const deps: AcceptDeps = {
    stamp: acceptanceStamp,
    queue: c.env.INGEST_QUEUE,
    delivery: deliveryStub(c.env),
    audit: ({ named, taken }) =>
      audited(c.env, {
        credential: c.get("credential")?.name ?? "",
        action: "delete",
        route: `${c.req.method} ${c.req.path}`,
        named,
        taken,
      }),
    ledger: {
      claim: (key, fingerprint, stamp) => claimRequest(guard, key, fingerprint, stamp),
      confirm: (key, accepted) => confirmRequest(guard, key, accepted),
      release: (key) => releaseRequest(guard, key),
    },
    log,
  };
  let entry: RequestIdEntry | undefined;
  if (id !== undefined) {
    const body = new Uint8Array(await c.req.arrayBuffer());
    entry = { id, ...(await guardEntryOf(id, c.req.method, c.req.path, body)) };
  }
  const outcome = await acceptRequest(deps, ingested, entry);
  if (outcome.status === 503) {
    c.header("Retry-After", "1");
    return c.json({ error: outcome.error, message: outcome.message }, 503);
  }
  if (outcome.status === 422) return c.json({ error: outcome.error, message: outcome.message }, 422);
  if (outcome.replayed) c.header("Idempotent-Replayed", "true");
  return c.json({ accepted: outcome.accepted }, 202);
}
