import { DurableObject } from "cloudflare:workers";

/** How long an accepted request id is remembered: its repeats get the original 202 meanwhile. */
const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;
/**
 * How long a claim may wait for its confirmation. A Worker that dies between claiming and
 * confirming leaves the id pending; after this its retry may queue again, with the same stamp.
 */
const CLAIM_LEASE_MS = 60_000;

/** What a claim found: go ahead (with the id's stamp), or answer without queueing anything. */
export type Claim =
  | { readonly state: "claimed"; readonly stamp: number }
  | { readonly state: "accepted"; readonly accepted: number }
  | { readonly state: "in_progress" }
  | { readonly state: "conflict" };

type Row = {
  fingerprint: string;
  stamp: number;
  state: "pending" | "accepted" | "released";
  accepted: number | null;
  lease_until: number;
};

/**
 * The single writer of request ids (a signed request's `webhook-id`, a bearer caller's
 * `Idempotency-Key`): an id is claimed before its rows are queued and confirmed after, so two
 * requests with one id never both queue, and a repeat of an accepted id gets its original answer.
 * Entries live for {@link IDEMPOTENCY_WINDOW_MS} from their first claim, far longer than a
 * signature's ±300 s, so a replay whose timestamp is still accepted always finds its id, whatever
 * the clocks. An alarm deletes expired entries, so storage holds one day of ids at most. Sharded
 * by a hash of the id (see `shardOf`), SQLite-backed.
 */
export class ReplayGuard extends DurableObject<Record<string, unknown>> {
  constructor(ctx: DurableObjectState, env: Record<string, unknown>) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec("DROP TABLE IF EXISTS seen"); // the signature-keyed guard this replaced
    sql.exec(`CREATE TABLE IF NOT EXISTS requests (
      key TEXT PRIMARY KEY,
      fingerprint TEXT NOT NULL,
      stamp REAL NOT NULL,
      state TEXT NOT NULL,
      accepted INTEGER,
      lease_until INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    )`);
    sql.exec("CREATE INDEX IF NOT EXISTS requests_expiry ON requests (expires_at)");
  }

  /**
   * Claim `key` for a request whose body hashes to `fingerprint`. A new id keeps `stamp` as the
   * time it was first accepted; an id claimed before keeps its first stamp, so a retry can never
   * overwrite values written after the first attempt. The same id with another body is a conflict.
   */
  async claim(key: string, fingerprint: string, stamp: number): Promise<Claim> {
    const sql = this.ctx.storage.sql;
    const now = Date.now();
    sql.exec("DELETE FROM requests WHERE expires_at <= ?", now);
    const row = sql.exec<Row>(
      "SELECT fingerprint, stamp, state, accepted, lease_until FROM requests WHERE key = ?",
      key,
    ).toArray()[0];
    if (row === undefined) {
      sql.exec(
        "INSERT INTO requests VALUES (?, ?, ?, 'pending', NULL, ?, ?)",
        key,
        fingerprint,
        stamp,
        now + CLAIM_LEASE_MS,
        now + IDEMPOTENCY_WINDOW_MS,
      );
      await this.#scheduleCleanup(now + IDEMPOTENCY_WINDOW_MS);
      return { state: "claimed", stamp };
    }
    const open = row.state === "released" || (row.state === "pending" && row.lease_until <= now);
    if (open) {
      sql.exec(
        "UPDATE requests SET fingerprint = ?, state = 'pending', lease_until = ? WHERE key = ?",
        fingerprint,
        now + CLAIM_LEASE_MS,
        key,
      );
      return { state: "claimed", stamp: row.stamp };
    }
    if (row.fingerprint !== fingerprint) return { state: "conflict" };
    return row.state === "accepted"
      ? { state: "accepted", accepted: row.accepted ?? 0 }
      : { state: "in_progress" };
  }

  /** The claimed request's rows are queued: remember its answer for the rest of the window. */
  confirm(key: string, accepted: number): void {
    this.ctx.storage.sql.exec(
      "UPDATE requests SET state = 'accepted', accepted = ? WHERE key = ? AND state = 'pending'",
      accepted,
      key,
    );
  }

  /** The claimed request failed before anything was acknowledged (a 503): let its retry through. */
  release(key: string): void {
    this.ctx.storage.sql.exec(
      "UPDATE requests SET state = 'released' WHERE key = ? AND state = 'pending'",
      key,
    );
  }

  override async alarm(): Promise<void> {
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM requests WHERE expires_at <= ?", Date.now());
    const next = sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM requests").one().at;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  /** Entries are only ever added with later expiries, so one alarm at the earliest is enough. */
  async #scheduleCleanup(at: number): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(at);
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
