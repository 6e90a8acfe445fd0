import { timingSafeEqual } from "hono/utils/buffer";

/**
 * True when `candidate` equals any of `keys` (ingest or admin keys); every key is compared, with
 * Hono's `timingSafeEqual`, so timing reveals nothing.
 */
export async function matchesAny(candidate: string, keys: readonly string[]): Promise<boolean> {
  const results = await Promise.all(keys.map((key) => timingSafeEqual(candidate, key)));
  return results.includes(true);
}
