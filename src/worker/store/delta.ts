import type { BulkKind } from "../../core/build-requests.ts";
import { hash64, propertyFingerprint } from "../../core/fingerprint.ts";
import type { Company, MetadataValue, User } from "../../core/schemas.ts";
import { COMPANY_FIELD, ID_FIELD, metadataField, metadataKey } from "./field-names.ts";

/**
 * Delta delivery's model: what Userpilot has of a profile, as a compact list of property
 * fingerprints, and which of a pending row's fields it already has. A profile's fingerprints are
 * 16 bytes a property (the `@` of a bare identify and `company_id` count as properties): the
 * property name's 32-bit key, the value's 64-bit fingerprint, and when a completed job delivered
 * it (seconds since the epoch). Values are never kept, only their fingerprints.
 */
export const ENTRY_WORDS = 4;

/** What one property's entry says: its value's fingerprint, and when it was delivered (seconds). */
export type PropertyPrint = readonly [hi: number, lo: number, at: number];

/** A profile's fingerprints by property-name key. */
export type Prints = Map<number, PropertyPrint>;

/** The 32-bit key of a field name (`field-names.ts`). */
export const nameKey = (name: string): number => hash64(name)[1];

/** A profile's key in the store: 53 bits of the fingerprint of its kind and id (a safe integer). */
export function profileKey(kind: BulkKind, id: string): number {
  const [hi, lo] = hash64(`${kind}\u0000${id}`);
  return (hi & 0x1fffff) * 2 ** 32 + lo;
}

/** Decode a stored list (16 bytes an entry). */
export function decodePrints(bytes: ArrayBuffer): Prints {
  const words = new Uint32Array(bytes);
  const prints: Prints = new Map();
  for (let i = 0; i < words.length; i += ENTRY_WORDS) {
    prints.set(words[i]!, [words[i + 1]!, words[i + 2]!, words[i + 3]!]);
  }
  return prints;
}

/** Encode a list for storage. */
export function encodePrints(prints: Prints): ArrayBuffer {
  const words = new Uint32Array(prints.size * ENTRY_WORDS);
  let i = 0;
  for (const [key, [hi, lo, at]] of prints) {
    words.set([key, hi, lo, at], i);
    i += ENTRY_WORDS;
  }
  return words.buffer;
}

/** The value a row carries for a field: `@` is the bare id (null), the rest as sent. */
function valueOf(row: User | Company, name: string): MetadataValue {
  if (name === ID_FIELD) return null;
  if (name === COMPANY_FIELD) return (row as User).company_id ?? null;
  return (row.metadata as Record<string, MetadataValue> | undefined)?.[metadataKey(name)!] ?? null;
}

/**
 * The fields of a planned row that Userpilot already has: the value (a `null` included: a removal)
 * equals what a completed job delivered less than `resendAfterMs` ago. Everything else goes: a new
 * or changed value, a company move, a value old enough to be sent again (Userpilot may have been
 * changed elsewhere), any field with no fingerprint. A `null` with no fingerprint goes too: a
 * missing fingerprint never proves Userpilot lacks the property (the profile may have been
 * forgotten, pruned, or delivered before fingerprints were kept).
 */
export function unchangedFields(
  kind: BulkKind,
  id: string,
  row: User | Company,
  names: Iterable<string>,
  prints: Prints | undefined,
  now: number,
  resendAfterMs: number,
): string[] {
  const unchanged: string[] = [];
  for (const name of names) {
    const value = valueOf(row, name);
    const print = prints?.get(nameKey(name));
    if (print === undefined || now - print[2] * 1000 >= resendAfterMs) continue;
    const [hi, lo] = propertyFingerprint(kind, id, name, value);
    if (print[0] === hi && print[1] === lo) unchanged.push(name);
  }
  return unchanged;
}

/**
 * What a job carrying `names` of `row` will have delivered once it completes, as entries to fold
 * into the profile's fingerprints (a removal, `null`, is kept like any value, with its time).
 */
export function carriedPrints(
  kind: BulkKind,
  id: string,
  row: User | Company,
  names: Iterable<string>,
): Prints {
  const prints: Prints = new Map();
  for (const name of names) {
    const value = valueOf(row, name);
    const [hi, lo] = propertyFingerprint(kind, id, name, value);
    prints.set(nameKey(name), [hi, lo, 1]);
  }
  return prints;
}

/** `prints` with a completed job's `carried` folded in at `now`. */
export function foldPrints(prints: Prints, carried: Prints, now: number): Prints {
  for (const [key, [hi, lo]] of carried) prints.set(key, [hi, lo, now / 1000]);
  return prints;
}

/** `row` without the metadata and company of the fields in `dropped`. */
export function withoutFields(row: User | Company, dropped: readonly string[]): User | Company {
  const { metadata, ...copy } = row as User;
  const kept = Object.entries(metadata ?? {}).filter(([key]) => !dropped.includes(metadataField(key)));
  if (dropped.includes(COMPANY_FIELD)) delete copy.company_id;
  return (kept.length > 0 ? { ...copy, metadata: Object.fromEntries(kept) } : copy) as User | Company;
}
