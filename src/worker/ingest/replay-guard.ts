/** The replay guard: the Durable Object that applies each request id once. @module */
import { DurableObject } from "cloudflare:workers";
import { IDEMPOTENCY_WINDOW_MS } from "../retention.ts";
import { type Claim, RequestLedger } from "./request-ledger.ts";

export type { Claim } from "./request-ledger.ts";

/**
 * The single writer of request ids (a signed request's `webhook-id`, a bearer caller's
 * `Idempotency-Key`): a thin shell over {@link RequestLedger}. Entries live for
 * `IDEMPOTENCY_WINDOW_MS` from their first claim, far longer than a signature's ±300 s, so a
 * replay whose timestamp is still accepted always finds its id, whatever the clocks. An alarm
 * deletes expired entries, so storage holds one day of ids at most. Sharded by a hash of the id
 * (see `shardOf`), SQLite-backed.
 */
export class ReplayGuard extends DurableObject<Record<string, unknown>> {
  readonly #ledger: RequestLedger;

  constructor(ctx: DurableObjectState, env: Record<string, unknown>) {
    super(ctx, env);
    this.#ledger = new RequestLedger(ctx.storage);
  }

  /** See {@link RequestLedger.claim}. */
  async claim(key: string, fingerprint: string, stamp: number): Promise<Claim> {
    const now = Date.now();
    const claim = this.#ledger.claim(key, fingerprint, stamp, now);
    // Entries are only ever added with later expiries, so one alarm at the earliest is enough.
    if (claim.state === "claimed" && (await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(now + IDEMPOTENCY_WINDOW_MS);
    }
    return claim;
  }

  /** See {@link RequestLedger.confirm}. */
  confirm(key: string, accepted: number): void {
    this.#ledger.confirm(key, accepted);
  }

  /** See {@link RequestLedger.release}. */
  release(key: string): void {
    this.#ledger.release(key);
  }

  override async alarm(): Promise<void> {
    this.#ledger.expire(Date.now());
    const next = this.#ledger.nextExpiry();
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }
}

/** The shard that holds a key (a SHA-256 hex): 16 shards, by its first hex digit. */
function shardOf(
  namespace: DurableObjectNamespace<ReplayGuard>,
  key: string,
): DurableObjectStub<ReplayGuard> {
  return namespace.get(namespace.idFromName(`replay-${key.slice(0, 1)}`));
}

/** Claim a request id; see {@link ReplayGuard.claim}. */
export function claimRequest(
  namespace: DurableObjectNamespace<ReplayGuard>,
  key: string,
  fingerprint: string,
  stamp: number,
): Promise<Claim> {
  return shardOf(namespace, key).claim(key, fingerprint, stamp);
}

/** Confirm a claimed id once its rows are queued. */
export async function confirmRequest(
  namespace: DurableObjectNamespace<ReplayGuard>,
  key: string,
  accepted: number,
): Promise<void> {
  await shardOf(namespace, key).confirm(key, accepted);
}

/** Release a claimed id whose request failed before anything was acknowledged. */
export async function releaseRequest(
  namespace: DurableObjectNamespace<ReplayGuard>,
  key: string,
): Promise<void> {
  await shardOf(namespace, key).release(key);
}
