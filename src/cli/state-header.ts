import { createHash } from "node:crypto";
import type { Fingerprint } from "../core/fingerprint.ts";
import { StateError } from "./errors.ts";

/**
 * The `--state` file's header, 48 bytes, little-endian:
 *
 * | bytes | what |
 * |-------|------|
 * | 0-7   | `UPBSTATE` |
 * | 8-11  | the format version ({@link FORMAT_VERSION}) |
 * | 12-15 | the count of entries |
 * | 16-23 | the fingerprint of the options that shape rows (kind, `--types`, `--empty-as-null`) |
 * | 24-31 | the checksum of the entries |
 * | 32-39 | the destination: the first 8 bytes of a SHA-256 of the normalized base URL and the API key (never the key) |
 * | 40-47 | when the last full send began (every row sent), milliseconds since the epoch, as a float64 |
 *
 * Format 1 (a 32-byte header without the last two fields) is still recognised: it has no
 * destination and no age, so a run given one sends every row and writes format 2.
 */
export const MAGIC = "UPBSTATE";
export const FORMAT_VERSION = 2;
export const HEADER_BYTES = 48;

/** What the header says, besides the magic and the version. */
export interface StateHeader {
  readonly count: number;
  readonly options: Fingerprint;
  readonly checksum: Fingerprint;
  readonly destination: Fingerprint;
  readonly lastFullMs: number;
}

/** A checksum of entry words, continued from `sum` (two multiplicative mixes). */
export function checksum(words: Uint32Array, sum: Fingerprint = [0x811c9dc5, 0x5bd1e995]): Fingerprint {
  let [a, b] = sum;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    a = Math.imul(a ^ word, 0x01000193) >>> 0;
    b = (Math.imul(b ^ word, 0x5bd1e995) ^ (b >>> 15)) >>> 0;
  }
  return [a, b];
}

/**
 * The header of the file `path` holds as `bytes`, or the number of an older format (whose
 * entries are not read). A file that is not a state file, or of a newer format, throws a
 * {@link StateError}.
 */
export function readHeader(path: string, bytes: Uint8Array): StateHeader | { readonly olderFormat: number } {
  const magic = new TextDecoder().decode(bytes.subarray(0, MAGIC.length));
  if (bytes.length < 12 || magic !== MAGIC) {
    throw new StateError(
      `--state ${path} is not a userpilot-bulk state file (choose another path, or delete it to start afresh)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const version = view.getUint32(8, true);
  if (version >= 1 && version < FORMAT_VERSION) return { olderFormat: version };
  if (version !== FORMAT_VERSION) {
    throw new StateError(
      `--state ${path} is in format ${version}; this version reads format ${FORMAT_VERSION}`,
    );
  }
  if (bytes.length < HEADER_BYTES) {
    throw new StateError(
      `--state ${path} is damaged: ${bytes.length} bytes, shorter than its header (delete it, or run with --full, to start afresh)`,
    );
  }
  return {
    count: view.getUint32(12, true),
    options: [view.getUint32(16, true), view.getUint32(20, true)],
    checksum: [view.getUint32(24, true), view.getUint32(28, true)],
    destination: [view.getUint32(32, true), view.getUint32(36, true)],
    lastFullMs: view.getFloat64(40, true),
  };
}

/** The header's bytes. */
export function headerBytes(header: StateHeader): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, FORMAT_VERSION, true);
  view.setUint32(12, header.count, true);
  view.setUint32(16, header.options[0], true);
  view.setUint32(20, header.options[1], true);
  view.setUint32(24, header.checksum[0], true);
  view.setUint32(28, header.checksum[1], true);
  view.setUint32(32, header.destination[0], true);
  view.setUint32(36, header.destination[1], true);
  view.setFloat64(40, header.lastFullMs, true);
  return bytes;
}

/**
 * Where a direct run's rows go, as the state records it: the first 8 bytes of a SHA-256 of the
 * normalized base URL and the API key (which names the Userpilot environment). The key itself
 * never reaches the file, and 8 bytes of its digest do not give it back.
 *
 * @example
 * ```ts
 * const destination = destinationPrint("https://analytex.userpilot.io", apiKey);
 * ```
 */
export function destinationPrint(baseUrl: string, apiKey: string): Fingerprint {
  const digest = createHash("sha256").update(`userpilot-bulk state\u0000${baseUrl}\u0000${apiKey}`).digest();
  const view = new DataView(digest.buffer, digest.byteOffset, 8);
  return [view.getUint32(0), view.getUint32(4)];
}
