/**
 * Accepting a request: its deletes to the delivery object, its rows and events to the Queue, once
 * per request id. Given everything it talks to, so the simulator runs it as the Worker does.
 * @module
 */
import type { BulkKind } from "../../core/build-requests.ts";
import { describeFailure } from "../../core/errors.ts";
import type { Log } from "../log.ts";
import { type Accepted, messagesOf, type QueueSender, sendMessages } from "./messages.ts";
import type { Claim } from "./request-ledger.ts";

/** What accepting a request needs: the stamp, the Queue, the delivery object, the ledger of ids. */
export interface AcceptDeps {
  /** This isolate's next acceptance stamp (`acceptanceStamp`). */
  readonly stamp: () => number;
  readonly queue: QueueSender;
  /** The delivery object, for deletes (they act at once, not through the Queue). */
  readonly delivery: {
    deleteIds(target: BulkKind, ids: readonly string[], deletedAt: number): Promise<number>;
  };
  /** Record a delete in the audit log (it is irreversible): how many ids were named, how many new. */
  readonly audit: (deleted: { readonly named: number; readonly taken: number }) => Promise<unknown>;
  /** The replay guard: claim, confirm or release a request id. */
  readonly ledger: {
    claim(key: string, fingerprint: string, stamp: number): Promise<Claim>;
    confirm(key: string, accepted: number): Promise<void>;
    release(key: string): Promise<void>;
  };
  readonly log: Log;
  /** A fresh id, for the events of a request without one (a random UUID unless a simulator says). */
  readonly newId?: () => string;
}

/** What became of a request: accepted (or accepted before, `replayed`), to retry, or refused. */
export type AcceptOutcome =
  | { readonly status: 202; readonly accepted: number; readonly replayed: boolean }
  | { readonly status: 503; readonly error: string; readonly message: string }
  | { readonly status: 422; readonly error: string; readonly message: string };

/** A request's id as the guard keeps it: the id, its key, and the fingerprint of the request. */
export interface RequestIdEntry {
  readonly id: string;
  readonly key: string;
  readonly fingerprint: string;
}

async function queue(
  deps: AcceptDeps,
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
      const taken = await deps.delivery.deleteIds(part.target, part.ids, receivedAt);
      // Irreversible, so audited; a failure to record it fails the request, and its retry records it.
      await deps.audit({ named: part.ids.length, taken });
    }
    await sendMessages(deps.queue, messagesOf(ingested.parts, receivedAt, requestId, deps.newId));
    return true;
  } catch (error) {
    deps.log("error", "queue_send_failed", { message: describeFailure(error) });
    return false;
  }
}

const retryLater = (error: string, message: string): AcceptOutcome => ({ status: 503, error, message });

/**
 * Queue an accepted request, applying each request id at most once: claim the id, queue,
 * confirm. A repeat of an accepted id gets the original answer (`replayed`) and queues nothing;
 * while the first is still being queued a repeat is a 503 to retry; the same id with another body
 * is a 422. If queueing fails, the claim is released so the retry goes through. Rows carry the
 * time their id was first claimed, so a retry never overwrites a newer value.
 *
 * @example
 * ```ts
 * const outcome = await acceptRequest(deps, c.req.valid("json"), undefined);
 * ```
 */
export async function acceptRequest(
  deps: AcceptDeps,
  ingested: Accepted,
  entry: RequestIdEntry | undefined,
): Promise<AcceptOutcome> {
  if (entry === undefined) {
    if (!(await queue(deps, ingested, deps.stamp(), undefined))) {
      return retryLater("queue_unavailable", "rows were not queued; retry");
    }
    return { status: 202, accepted: ingested.accepted, replayed: false };
  }
  const { id, key, fingerprint } = entry;
  let claim: Claim;
  try {
    claim = await deps.ledger.claim(key, fingerprint, deps.stamp());
  } catch (error) {
    deps.log("error", "replay_guard_unavailable", { message: describeFailure(error) });
    return retryLater("unavailable", "try again");
  }
  switch (claim.state) {
    case "accepted":
      return { status: 202, accepted: claim.accepted, replayed: true };
    case "in_progress":
      return retryLater("request_in_progress", "a request with this id is being accepted; retry");
    case "conflict":
      return {
        status: 422,
        error: "idempotency_key_reused",
        message: "this request id was used for another request; use a new id",
      };
  }
  if (!(await queue(deps, ingested, claim.stamp, id))) {
    await deps.ledger.release(key).catch((error: unknown) =>
      deps.log("error", "replay_guard_release_failed", { message: describeFailure(error) })
    );
    return retryLater("queue_unavailable", "rows were not queued; retry");
  }
  try {
    await deps.ledger.confirm(key, ingested.accepted);
  } catch (error) {
    // The rows are queued, so this is a 202. Unconfirmed, the claim lapses after its lease and a
    // later retry queues the same rows again with the same stamp, which the merge makes harmless.
    deps.log("error", "replay_guard_confirm_failed", { message: describeFailure(error) });
  }
  return { status: 202, accepted: ingested.accepted, replayed: false };
}
