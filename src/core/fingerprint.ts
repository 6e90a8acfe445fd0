import type { MetadataValue } from "./schemas.ts";

/**
 * Fingerprints of what Userpilot was sent, so a value it already has need not go again (delta
 * delivery: the Durable Object per property, the CLI's `--state` per row). A fingerprint is 64
 * bits as two unsigned 32-bit halves. The hash is our own, a few lines with `Math.imul` (in the
 * manner of cyrb53, widened to 64 bits): synchronous, allocation-free and dependency-free, where
 * Web Crypto's digests are async and a package would add to the Worker's 60 KB budget. It is not
 * a defence against crafted collisions; at 64 bits an accidental one (which would hold back one
 * changed value until `RESEND_AFTER_HOURS`) is about one in 10^19 per comparison.
 */
export type Fingerprint = readonly [hi: number, lo: number];

/**
 * Hours after which a delivered value is sent again even if unchanged, as Userpilot may have been
 * changed elsewhere: a week. The endpoint's `RESEND_AFTER_HOURS` and the CLI's
 * `--resend-after-hours` default to it.
 */
export const DEFAULT_RESEND_AFTER_HOURS: number = 168;

/**
 * The 64-bit fingerprint of `text` (its UTF-16 code units).
 *
 * @example
 * ```ts
 * const [hi, lo] = hash64('{"plan":"pro"}');
 * ```
 */
export function hash64(text: string): Fingerprint {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ unit, 2654435761);
    h2 = Math.imul(h2 ^ unit, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h2 >>> 0, h1 >>> 0];
}

/** The canonical text of a property value: its JSON (a `Date` as its ISO string, as it is sent). */
export function canonicalValue(value: MetadataValue | Date): string {
  return JSON.stringify(value);
}

/**
 * The fingerprint of one property value of one profile. The kind, the id and the property name
 * are part of it, so two profiles (or two properties) can never vouch for each other's values,
 * whatever the keys they are stored under.
 *
 * @example
 * ```ts
 * const print = propertyFingerprint("users", "u1", "m:plan", "pro");
 * ```
 */
export function propertyFingerprint(
  kind: string,
  id: string,
  name: string,
  value: MetadataValue | Date,
): Fingerprint {
  return hash64(`${kind}\u0000${id}\u0000${name}\u0000${JSON.stringify(value)}`); // canonicalValue
}
