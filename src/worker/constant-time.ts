const encoder = new TextEncoder();

/**
 * Compare two strings in time that does not depend on where they differ: both are hashed first,
 * so the loop always runs over 32 bytes whatever their lengths.
 */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  const left = new Uint8Array(x);
  const right = new Uint8Array(y);
  let difference = 0;
  for (let i = 0; i < left.length; i++) difference |= (left[i] as number) ^ (right[i] as number);
  return difference === 0;
}

/** True when `candidate` equals any of `keys`; every key is compared, so timing reveals nothing. */
export async function matchesAny(candidate: string, keys: readonly string[]): Promise<boolean> {
  const results = await Promise.all(keys.map((key) => constantTimeEqual(candidate, key)));
  return results.includes(true);
}
