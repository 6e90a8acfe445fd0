/**
 * A bounded set of recently seen digests, each forgotten after `ttlMs`. A `Map` keeps insertion
 * order, so the oldest entry is the first one: eviction is O(1).
 */
export class RecentDigests {
  readonly #seen = new Map<string, number>();
  readonly #capacity: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(capacity: number, ttlMs: number, now: () => number = Date.now) {
    this.#capacity = capacity;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  has(digest: string): boolean {
    const at = this.#seen.get(digest);
    if (at === undefined) return false;
    if (this.#now() - at < this.#ttlMs) return true;
    this.#seen.delete(digest);
    return false;
  }

  add(digest: string): void {
    this.#seen.delete(digest);
    this.#seen.set(digest, this.#now());
    while (this.#seen.size > this.#capacity) {
      const oldest = this.#seen.keys().next().value as string;
      this.#seen.delete(oldest);
    }
  }

  delete(digest: string): void {
    this.#seen.delete(digest);
  }

  get size(): number {
    return this.#seen.size;
  }
}
