/**
 * The last profile digest sent per user, each forgotten after `ttlMs`, at most `capacity` users.
 * Keyed by user, not by digest: pro → free → pro must send the third change too. A `Map` keeps
 * insertion order, so the least recently sent user is the first one and eviction is O(1).
 */
export class RecentDigests {
  readonly #sent = new Map<string, { digest: string; at: number }>();
  readonly #capacity: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(capacity: number, ttlMs: number, now: () => number = Date.now) {
    this.#capacity = capacity;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /** True when `digest` is what was last sent for `user`, within the TTL. */
  isLatest(user: string, digest: string): boolean {
    const last = this.#sent.get(user);
    if (last === undefined) return false;
    if (this.#now() - last.at >= this.#ttlMs) {
      this.#sent.delete(user);
      return false;
    }
    return last.digest === digest;
  }

  remember(user: string, digest: string): void {
    this.#sent.delete(user);
    this.#sent.set(user, { digest, at: this.#now() });
    while (this.#sent.size > this.#capacity) this.#sent.delete(this.#sent.keys().next().value as string);
  }

  /** Forget a send that failed, unless a newer profile has been sent since. */
  forget(user: string, digest: string): void {
    if (this.#sent.get(user)?.digest === digest) this.#sent.delete(user);
  }

  /** Forget everything: after a failed send whose users are not known, every profile goes again. */
  clear(): void {
    this.#sent.clear();
  }

  get size(): number {
    return this.#sent.size;
  }
}
