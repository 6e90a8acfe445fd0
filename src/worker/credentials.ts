/**
 * Credentials as the settings write them: each entry of `INGEST_KEYS`, `INGEST_SIGNING_SECRETS`
 * and `ADMIN_KEYS` is `key`, `name:key` or `name:scopes:key` (scopes joined by `+`). A bare key
 * keeps what it could do before names and scopes existed, named by its position. Shared by the
 * settings schema and both rooms that authenticate (ingest, admin).
 * @module
 */
import * as v from "valibot";
import { signingSecretProblem } from "../core/signature.ts";

/** What an ingest credential may do: identify users and companies (bulk or not), track, delete. */
export type IngestScope = "identify" | "track" | "delete";
const INGEST_SCOPES: readonly IngestScope[] = ["identify", "track", "delete"];

/** What an admin credential may do: `read` (status, lists, exports), or `full` (also redrive, purge, forget). */
export type AdminScope = "read" | "full";

/** One credential: the name logs, audit entries and request ids know it by, what it may do, and its secret. */
export interface Credential<Scope extends string = string> {
  readonly name: string;
  /** Everything it may do (`full` implies `read`). */
  readonly scopes: readonly Scope[];
  readonly secret: string;
}

/** How one list's entries are read. */
interface ListKind<Scope extends string> {
  /** A bare entry's name: `<prefix>-<position>`. */
  readonly prefix: string;
  readonly scopes: readonly Scope[];
  /** What a bare entry, or one with a name and no scopes, may do: what any key could before scopes. */
  readonly defaults: readonly Scope[];
  /** What a scope brings with it (`full` brings `read`). */
  readonly implied?: Partial<Record<Scope, readonly Scope[]>>;
  /** Why a secret cannot be used, in words that never quote it. */
  readonly problem: (secret: string) => string | undefined;
}

/** Names: what logs and audit entries show; letters, digits and `.` `_` `@` `-`. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const HEADER_SAFE = /^[\x21-\x7e]+$/;

/** The shortest key accepted. */
export const MIN_KEY_LENGTH = 32;
/** The least randomness a key must show, in bits, by {@link estimatedBits}. */
export const MIN_KEY_BITS = 128;
/** The fewest different characters a key must hold (`aaaa…` or `abab…` is no key). */
const MIN_DISTINCT_CHARACTERS = 8;

/**
 * A simple estimate of a key's randomness: its length times the bits of the alphabet it draws
 * from (digits alone 10, hexadecimal 16; otherwise 26 per letter case, 10 for digits and 32 for
 * anything else it uses). `openssl rand -hex 16` gives 128; `openssl rand -base64 32` gives 258.
 */
export function estimatedBits(key: string): number {
  if (/^[0-9]+$/.test(key)) return Math.floor(key.length * Math.log2(10));
  if (/^[0-9a-f]+$/.test(key) || /^[0-9A-F]+$/.test(key)) return key.length * 4;
  const alphabet = (/[a-z]/.test(key) ? 26 : 0) + (/[A-Z]/.test(key) ? 26 : 0) +
    (/[0-9]/.test(key) ? 10 : 0) + (/[^a-zA-Z0-9]/.test(key) ? 32 : 0);
  return Math.floor(key.length * Math.log2(alphabet));
}

/**
 * Why a key (ingest or admin) is too weak or cannot be sent, or `undefined`. Never quotes it.
 *
 * @example
 * ```ts
 * keyProblem("secret"); // "is shorter than 32 characters (openssl rand -hex 32 makes a good key)"
 * ```
 */
export function keyProblem(key: string): string | undefined {
  const advice = "(openssl rand -hex 32 makes a good key)";
  if (!HEADER_SAFE.test(key)) return "holds spaces or characters an HTTP header cannot carry";
  if (key.length < MIN_KEY_LENGTH) return `is shorter than ${MIN_KEY_LENGTH} characters ${advice}`;
  if (new Set(key).size < MIN_DISTINCT_CHARACTERS || estimatedBits(key) < MIN_KEY_BITS) {
    return `looks less random than ${MIN_KEY_BITS} bits ${advice}`;
  }
  return undefined;
}

/** One entry as a credential, or the problem with it (never quoting any part of it). */
function credentialOf<Scope extends string>(
  entry: string,
  position: number,
  kind: ListKind<Scope>,
): Credential<Scope> | string {
  const parts = entry.split(":").map((part) => part.trim());
  if (parts.length > 3) return "has more than two ':': write key, name:key or name:scopes:key";
  const secret = parts.at(-1)!;
  const name = parts.length === 1 ? `${kind.prefix}-${position}` : parts[0]!;
  if (!NAME.test(name)) return "has a name that is not 1 to 64 letters, digits and . _ @ -";
  let scopes = kind.defaults;
  if (parts.length === 3) {
    const named = parts[1]!.split("+").map((scope) => scope.trim());
    if (!named.every((scope) => (kind.scopes as readonly string[]).includes(scope))) {
      return `has scopes other than ${kind.scopes.join(", ")} (joined by +)`;
    }
    scopes = named as Scope[];
  }
  const problem = kind.problem(secret);
  if (problem !== undefined) return problem;
  const all = new Set(scopes.flatMap((scope) => [scope, ...(kind.implied?.[scope] ?? [])]));
  return { name, scopes: kind.scopes.filter((scope) => all.has(scope)), secret };
}

/** The items of a comma-separated setting, trimmed, empty ones left out. */
export const commaSeparated = (value: string): string[] =>
  value.split(",").map((item) => item.trim()).filter((item) => item.length > 0);

/**
 * A list setting of credentials (comma-separated entries): every malformed entry is named by its
 * position, never quoted.
 */
function credentialList<Scope extends string>(kind: ListKind<Scope>) {
  return v.pipe(
    v.optional(v.string(), ""),
    v.rawTransform(({ dataset, addIssue }) => {
      const credentials: Credential<Scope>[] = [];
      commaSeparated(dataset.value).forEach((entry, i) => {
        const read = credentialOf(entry, i + 1, kind);
        if (typeof read === "string") addIssue({ message: `entry ${i + 1} ${read}` });
        else credentials.push(read);
      });
      return credentials;
    }),
  );
}

/** `INGEST_KEYS`: bearer (or `Token`) keys; a bare key may identify and track. */
export const IngestKeysSchema = credentialList<IngestScope>({
  prefix: "ingest-key",
  scopes: INGEST_SCOPES,
  defaults: ["identify", "track"],
  problem: keyProblem,
});

/** `INGEST_SIGNING_SECRETS`: Standard Webhooks secrets (`whsec_…`); a bare one may identify and track. */
export const SigningSecretsSchema = credentialList<IngestScope>({
  prefix: "signing-secret",
  scopes: INGEST_SCOPES,
  defaults: ["identify", "track"],
  problem: signingSecretProblem,
});

const ADMIN_KIND: ListKind<AdminScope> = {
  prefix: "admin-key",
  scopes: ["read", "full"],
  defaults: ["full"],
  implied: { full: ["read"] },
  problem: keyProblem,
};

/** `ADMIN_KEYS`: operators' keys; a bare key is `full`, as every admin key was before scopes. */
export const AdminKeysSchema = credentialList(ADMIN_KIND);

/**
 * The admin keys that are well formed, whatever else is wrong: `/health` shows the settings'
 * problems to whoever holds one, even while the rest of the settings (or other entries) are broken.
 *
 * @example
 * ```ts
 * const keys = usableAdminKeys(env);
 * ```
 */
export function usableAdminKeys(env: { readonly ADMIN_KEYS?: unknown }): Credential<AdminScope>[] {
  const value = typeof env.ADMIN_KEYS === "string" ? env.ADMIN_KEYS : "";
  return commaSeparated(value).flatMap((entry, i) => {
    const read = credentialOf(entry, i + 1, ADMIN_KIND);
    return typeof read === "string" ? [] : [read];
  });
}
