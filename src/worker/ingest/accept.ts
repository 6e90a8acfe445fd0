/** Queueing an accepted request, once per request id. @module */
import type { Context } from "hono";
import { toHex } from "../../core/encoding.ts";
import { describeFailure } from "../../core/errors.ts";
import type { AppEnv } from "../app-env.ts";
import { audited, deliveryStub } from "../delivery/index.ts";
import { log } from "../log.ts";
import { acceptanceStamp, messagesOf, sendMessages } from "./messages.ts";
import { type Claim, claimRequest, confirmRequest, releaseRequest } from "./replay-guard.ts";
import type { Accepted } from "./route-schemas.ts";

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

async function queue(
  c: Context<AppEnv>,
  ingested: Accepted,
  receivedAt: number,
  requestId: string | undefined,
): Promise<boolean> {
  try {
    // Deletes go straight to the delivery object, so that they act at once: nothing pending of
    // those ids can go out after the 202, and a write accepted after them is held until Userpilot
    // has the delete (a Queue could hand that write over first).
    for (const part of ingested.parts) {
      if (part.kind !== "deletions") continue;
      const taken = await deliveryStub(c.env).deleteIds(part.target, part.ids, receivedAt);
      // Irreversible, so audited; a failure to record it fails the request, and its retry records it.
      await audited(c.env, {
        credential: c.get("credential")?.name ?? "",
        action: "delete",
        route: `${c.req.method} ${c.req.path}`,
        named: part.ids.length,
        taken,
      });
    }
    await sendMessages(c.env.INGEST_QUEUE, messagesOf(ingested.parts, receivedAt, requestId));
    return true;
  } catch (error) {
    log("error", "queue_send_failed", { message: describeFailure(error) });
    return false;
  }
}

function retryLater(c: Context<AppEnv>, error: string, message: string): Response {
  c.header("Retry-After", "1");
  return c.json({ error, message }, 503);
}

/**
 * Queue valid rows and answer 202, applying each request id at most once: claim the id, queue,
 * confirm. A repeat of an accepted id gets the original 202 (`Idempotent-Replayed: true`) and
 * queues nothing; while the first is still being queued a repeat is a 503 to retry; the same id
 * with another body is a 422. If queueing fails, the claim is released so the retry goes through.
 * Rows carry the time their id was first claimed, so a retry never overwrites a newer value.
 */
export async function acceptOnce(
  c: Context<AppEnv>,
  ingested: Accepted,
  id: string | undefined,
): Promise<Response> {
  if (id === undefined) {
    if (!(await queue(c, ingested, acceptanceStamp(), undefined))) {
      return retryLater(c, "queue_unavailable", "rows were not queued; retry");
    }
    return c.json({ accepted: ingested.accepted }, 202);
  }
  const body = new Uint8Array(await c.req.arrayBuffer());
  const { key, fingerprint } = await guardEntryOf(id, c.req.method, c.req.path, body);
  let claim: Claim;
  try {
    claim = await claimRequest(c.env.REPLAY_GUARD, key, fingerprint, acceptanceStamp());
  } catch (error) {
    log("error", "replay_guard_unavailable", { message: describeFailure(error) });
    return retryLater(c, "unavailable", "try again");
  }
  switch (claim.state) {
    case "accepted":
      c.header("Idempotent-Replayed", "true");
      return c.json({ accepted: claim.accepted }, 202);
    case "in_progress":
      return retryLater(c, "request_in_progress", "a request with this id is being accepted; retry");
    case "conflict":
      return c.json({
        error: "idempotency_key_reused",
        message: "this request id was used for another request; use a new id",
      }, 422);
  }
  if (!(await queue(c, ingested, claim.stamp, id))) {
    await releaseRequest(c.env.REPLAY_GUARD, key).catch((error: Error) =>
      log("error", "replay_guard_release_failed", { message: describeFailure(error) })
    );
    return retryLater(c, "queue_unavailable", "rows were not queued; retry");
  }
  try {
    await confirmRequest(c.env.REPLAY_GUARD, key, ingested.accepted);
  } catch (error) {
    // The rows are queued, so this is a 202. Unconfirmed, the claim lapses after its lease and a
    // later retry queues the same rows again with the same stamp, which the merge makes harmless.
    log("error", "replay_guard_confirm_failed", { message: describeFailure(error) });
  }
  return c.json({ accepted: ingested.accepted }, 202);
}
