import { DurableObject } from "cloudflare:workers";

/**
 * Remembers signatures already used, so a captured signed request cannot be sent again while its
 * timestamp is still inside the window. Sharded by signature (see `claimSignature`), SQLite-backed.
 */
export class ReplayGuard extends DurableObject<Record<string, unknown>> {
  constructor(ctx: DurableObjectState, env: Record<string, unknown>) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS seen (signature TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
    );
    ctx.storage.sql.exec("CREATE INDEX IF NOT EXISTS seen_expiry ON seen (expires_at)");
  }

  /** Record a signature; false if it was already seen and has not expired. */
  claim(signature: string, expiresAt: number): boolean {
    const sql = this.ctx.storage.sql;
    const now = Date.now();
    sql.exec("DELETE FROM seen WHERE expires_at < ?", now);
    const existing = sql.exec("SELECT 1 FROM seen WHERE signature = ?", signature).toArray();
    if (existing.length > 0) return false;
    sql.exec("INSERT INTO seen (signature, expires_at) VALUES (?, ?)", signature, expiresAt);
    return true;
  }

  /** Forget a signature whose request was not accepted after all (a 503), so its retry is not a replay. */
  release(signature: string): void {
    this.ctx.storage.sql.exec("DELETE FROM seen WHERE signature = ?", signature);
  }
}

/** The shard that remembers a signature: 16 shards, by its first hex digit. */
function shardOf(
  namespace: DurableObjectNamespace<ReplayGuard>,
  signature: string,
): DurableObjectStub<ReplayGuard> {
  return namespace.get(namespace.idFromName(`replay-${signature.slice(0, 1) || "0"}`));
}

/** Claim a signature; false if it was used already. */
export function claimSignature(
  namespace: DurableObjectNamespace<ReplayGuard>,
  signature: string,
  expiresAt: number,
): Promise<boolean> {
  return shardOf(namespace, signature).claim(signature, expiresAt);
}

/** Release a claimed signature (its request failed before anything was accepted). */
export async function releaseSignature(
  namespace: DurableObjectNamespace<ReplayGuard>,
  signature: string,
): Promise<void> {
  await shardOf(namespace, signature).release(signature);
}
