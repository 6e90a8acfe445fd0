/**
 * The order of `entries` (four 32-bit words each: id hi, id lo, then two more) by id, as entry
 * indexes: a stable least-significant-digit radix sort, 16 bits a pass. A comparison sort of a
 * million records through a callback takes seconds; this takes tens of milliseconds and two
 * index arrays (4 MB each for a million).
 *
 * @example
 * ```ts
 * const order = sortEntries(log); // log[order[0] * 4] is the smallest id's high word
 * ```
 */
export function sortEntries(entries: Uint32Array): Uint32Array {
  const count = entries.length / 4;
  let order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  let scratch = new Uint32Array(count);
  const buckets = new Uint32Array(65_537);
  // Least significant first: the low word's halves, then the high word's.
  for (const [word, shift] of [[1, 0], [1, 16], [0, 0], [0, 16]] as const) {
    buckets.fill(0);
    for (let i = 0; i < count; i++) buckets[((entries[order[i]! * 4 + word]! >>> shift) & 0xffff) + 1]!++;
    for (let b = 1; b < buckets.length; b++) buckets[b]! += buckets[b - 1]!;
    for (let i = 0; i < count; i++) {
      const index = order[i]!;
      scratch[buckets[(entries[index * 4 + word]! >>> shift) & 0xffff]!++] = index;
    }
    [order, scratch] = [scratch, order];
  }
  return order;
}
