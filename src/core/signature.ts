/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com), with Web Crypto only:
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`,
 * keyed by the bytes of a `whsec_<base64>` secret. Any Standard Webhooks library signs requests
 * this verifies, and verifies what this signs.
 */
import { fromBase64, toBase64 } from "./encoding.ts";
import { isRequestId, newRequestId } from "./request-id.ts";

/** Header carrying the request's unique id; part of what is signed. */
export const WEBHOOK_ID_HEADER = "webhook-id";
/** Header carrying the unix time (seconds) the signature was made at. */
export const WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp";
/** Header carrying space-separated `v1,<base64>` signatures. */
export const WEBHOOK_SIGNATURE_HEADER = "webhook-signature";
/** Default accepted clock difference, either way (the specification's 5 minutes). */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

const SECRET_PREFIX = "whsec_";
// The specification's advice for symmetric keys: 24 to 64 random bytes.
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;

const encoder = new TextEncoder();

/** Raw bytes of a body given as text or bytes. */
type Body = string | Uint8Array | ArrayBuffer;

/**
 * Why a signing secret cannot be used, or `undefined` when it can. Never quotes the secret.
 *
 * @example
 * ```ts
 * signingSecretProblem("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"); // undefined
 * ```
 */
export function signingSecretProblem(secret: unknown): string | undefined {
  if (typeof secret !== "string" || !secret.startsWith(SECRET_PREFIX)) {
    return `must look like ${SECRET_PREFIX}<base64>`;
  }
  const key = fromBase64(secret.slice(SECRET_PREFIX.length));
  if (key === undefined) return `must be ${SECRET_PREFIX} followed by standard base64`;
  if (key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) {
    return `must hold ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} bytes after ${SECRET_PREFIX}, has ${key.length}`;
  }
  return undefined;
}

function importKey(secret: string): Promise<CryptoKey> {
  const problem = signingSecretProblem(secret);
  if (problem !== undefined) throw new TypeError(`a signing secret ${problem}`);
  const key = fromBase64(secret.slice(SECRET_PREFIX.length))!;
  return crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

/** `"<id>.<timestamp>."` followed by the raw body: what is signed. */
function signedBytes(id: string, timestamp: string, body: Body): Uint8Array<ArrayBuffer> {
  const prefix = encoder.encode(`${id}.${timestamp}.`);
  const raw = typeof body === "string"
    ? encoder.encode(body)
    : body instanceof Uint8Array
    ? body
    : new Uint8Array(body);
  const data = new Uint8Array(prefix.length + raw.length);
  data.set(prefix, 0);
  data.set(raw, prefix.length);
  return data;
}

async function macOf(secret: string, data: Uint8Array<ArrayBuffer>): Promise<string> {
  return toBase64(await crypto.subtle.sign("HMAC", await importKey(secret), data));
}

/** The three headers a signed request carries (a type literal, so it fits any header record). */
export type SignatureHeaders = {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
};

/** Options of {@link signPayload}. */
export interface SignPayloadOptions {
  /** The request's id: reuse it on every retry of one call. Default: a fresh `msg_…` id. */
  id?: string | undefined;
  /** Unix seconds. Default: now. */
  timestamp?: number | undefined;
}

/**
 * Sign a request body the Standard Webhooks way. Spread the result into the request's headers,
 * and sign the exact bytes you send. Give the same `id` to every retry of one call: the
 * endpoint applies an id once.
 *
 * @example
 * ```ts
 * const body = JSON.stringify({ user_id: "user_123" });
 * const headers = await signPayload(env.USERPILOT_INGEST_SIGNING_SECRET, body, { id: "msg_2f1c" });
 * await fetch(url, { method: "POST", body, headers: { ...headers, "Content-Type": "application/json" } });
 * ```
 */
export async function signPayload(
  secret: string,
  body: Body,
  options: SignPayloadOptions = {},
): Promise<SignatureHeaders> {
  const id = options.id ?? newRequestId();
  if (!isRequestId(id)) throw new TypeError("a webhook id must be 1 to 255 visible ASCII characters");
  const timestamp = String(Math.floor(options.timestamp ?? Date.now() / 1000));
  const mac = await macOf(secret, signedBytes(id, timestamp, body));
  return {
    [WEBHOOK_ID_HEADER]: id,
    [WEBHOOK_TIMESTAMP_HEADER]: timestamp,
    [WEBHOOK_SIGNATURE_HEADER]: `v1,${mac}`,
  } as SignatureHeaders;
}

/** Options of {@link verifySignature}. */
export interface VerifySignatureOptions {
  /** Accepted clock difference in seconds, either way. Default 300. */
  toleranceSeconds?: number | undefined;
  /** The current time in unix seconds. Default: now. */
  now?: number | undefined;
}

/** Why a signature was refused; for logs only, never for the caller. */
export type SignatureFailure = "missing" | "malformed" | "expired" | "mismatch";

/** The outcome of {@link verifySignature}: a valid request's id and timestamp, or why not. */
export type SignatureVerification =
  | { valid: true; id: string; timestamp: number }
  | { valid: false; reason: SignatureFailure };

function header(
  headers: Headers | Readonly<Record<string, string | undefined>>,
  name: string,
): string | null {
  if (headers instanceof Headers) return headers.get(name);
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && value !== undefined) return value;
  }
  return null;
}

// Our own comparison, not Hono's timingSafeEqual: the core depends on nothing but valibot.
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/**
 * Check a signed request against every active secret (several may be active during rotation).
 * The work is bounded whatever the headers hold: one HMAC of the body per secret, then a
 * constant-time comparison with each `v1,` value of the header.
 *
 * @example
 * ```ts
 * const raw = await request.arrayBuffer();
 * const result = await verifySignature([env.NEW_SECRET, env.OLD_SECRET], raw, request.headers);
 * if (!result.valid) return new Response("unauthorized", { status: 401 });
 * ```
 */
export async function verifySignature(
  secrets: string | readonly string[],
  body: Body,
  headers: Headers | Readonly<Record<string, string | undefined>>,
  options: VerifySignatureOptions = {},
): Promise<SignatureVerification> {
  const id = header(headers, WEBHOOK_ID_HEADER);
  const timestamp = header(headers, WEBHOOK_TIMESTAMP_HEADER);
  const signature = header(headers, WEBHOOK_SIGNATURE_HEADER);
  const active = (typeof secrets === "string" ? [secrets] : secrets).filter((secret) => secret.length > 0);
  if (id === null || timestamp === null || signature === null || active.length === 0) {
    return { valid: false, reason: "missing" };
  }
  if (!isRequestId(id) || !/^\d{1,12}$/.test(timestamp)) return { valid: false, reason: "malformed" };
  // Versions other than v1 are skipped, as the specification asks (they may be newer schemes).
  const candidates = signature
    .split(" ")
    .filter((part) => part.startsWith("v1,"))
    .map((part) => part.slice(3));
  if (candidates.length === 0) return { valid: false, reason: "malformed" };
  const seconds = Number(timestamp);
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - seconds) > (options.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS)) {
    return { valid: false, reason: "expired" };
  }
  const data = signedBytes(id, timestamp, body);
  for (const secret of active) {
    const expected = await macOf(secret, data);
    let matched = false;
    for (const candidate of candidates) matched = sameText(candidate, expected) || matched;
    if (matched) return { valid: true, id, timestamp: seconds };
  }
  return { valid: false, reason: "mismatch" };
}
