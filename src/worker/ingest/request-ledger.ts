/**
 * Request ids and what became of them: the replay guard's SQLite, as a plain class given its
 * storage and the time, so the accept path's once-per-id rule also runs under the simulator.
 * @module
 */
import { IDEMPOTENCY_WINDOW_MS } from "../retention.ts";
import type { SqlStorageLike } from "../sql.ts";

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
 * An id is claimed before its rows are queued and confirmed after, so two requests with one id
 * never both queue, and a repeat of an accepted id gets its original answer. Entries live for
 * {@link IDEMPOTENCY_WINDOW_MS} from their first claim; after that the id is new again, with a new
 * stamp.
 */
export class RequestLedger {
  readonly #storage: SqlStorageLike;

  constructor(storage: SqlStorageLike) {
    this.#storage = storage;
    const sql = storage.sql;
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
   * Claim `key` at `now` for a request whose body hashes to `fingerprint`. A new id keeps `stamp`
   * as the time it was first accepted; an id claimed before keeps its first stamp, so a retry can
   * never overwrite values written after the first attempt. The same id with another body is a
   * conflict. Returns the claim, and whether the id is new (its expiry then needs a cleanup).
   */
  claim(key: string, fingerprint: string, stamp: number, now: number): Claim {
    const sql = this.#storage.sql;
    this.expire(now);
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
    this.#storage.sql.exec(
      "UPDATE requests SET state = 'accepted', accepted = ? WHERE key = ? AND state = 'pending'",
      accepted,
      key,
    );
  }

  /** The claimed request failed before anything was acknowledged (a 503): let its retry through. */
  release(key: string): void {
    this.#storage.sql.exec(
      "UPDATE requests SET state = 'released' WHERE key = ? AND state = 'pending'",
      key,
    );
  }

  /** Forget ids past their window. */
  expire(now: number): void {
    this.#storage.sql.exec("DELETE FROM requests WHERE expires_at <= ?", now);
  }

  /** When the next id expires, if any is kept. */
  nextExpiry(): number | null {
    return this.#storage.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM requests").one()
      .at;
  }
}
