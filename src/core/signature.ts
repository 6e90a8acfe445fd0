import { toHex } from "./encoding.ts";

/** Header carrying the unix time (seconds) the signature was made at. */
export const SIGNATURE_TIMESTAMP_HEADER = "X-Signature-Timestamp";
/** Header carrying `v1=<hex HMAC-SHA256>`; up to three comma-separated values are allowed. */
export const SIGNATURE_HEADER = "X-Signature";
/** Most `v1=` values accepted in one `X-Signature` header. */
export const MAX_SIGNATURES = 3;
/** Default accepted clock difference, either way. */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

const encoder = new TextEncoder();

/** Raw bytes of a body given as text or bytes. */
type Body = string | Uint8Array | ArrayBuffer;

function bytesOf(body: Body): Uint8Array {
  return typeof body === "string"
    ? encoder.encode(body)
    : body instanceof Uint8Array
    ? body
    : new Uint8Array(body);
}

/** `"<timestamp>."` followed by the raw body: what is signed. */
function signedBytes(timestamp: string, body: Body): Uint8Array<ArrayBuffer> {
  const prefix = encoder.encode(`${timestamp}.`);
  const raw = bytesOf(body);
  const data = new Uint8Array(prefix.length + raw.length);
  data.set(prefix, 0);
  data.set(raw, prefix.length);
  return data;
}

function importKey(secret: string, usage: "sign" | "verify"): Promise<CryptoKey> {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new TypeError("a signing secret must be a non-empty string");
  }
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    usage,
  ]);
}

function fromHex(hex: string): Uint8Array<ArrayBuffer> | undefined {
  if (hex.length !== 64 || !/^[0-9a-f]+$/i.test(hex)) return undefined;
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** The two headers a signed request carries (a type literal, so it fits any header record). */
export type SignatureHeaders = {
  "X-Signature-Timestamp": string;
  "X-Signature": string;
};

/**
 * Sign a request body: HMAC-SHA256 over `"<unix seconds>.<raw body>"`. Spread the result into
 * the request's headers. Sign the exact bytes you send.
 *
 * @example
 * ```ts
 * const body = JSON.stringify({ user_id: "user_123" });
 * const headers = await signPayload(env.INGEST_SIGNING_SECRET, body);
 * await fetch(url, { method: "POST", body, headers: { ...headers, "Content-Type": "application/json" } });
 * ```
 */
export async function signPayload(secret: string, body: Body, timestamp?: number): Promise<SignatureHeaders> {
  const seconds = String(Math.floor(timestamp ?? Date.now() / 1000));
  const key = await importKey(secret, "sign");
  const mac = await crypto.subtle.sign("HMAC", key, signedBytes(seconds, body));
  return {
    [SIGNATURE_TIMESTAMP_HEADER]: seconds,
    [SIGNATURE_HEADER]: `v1=${toHex(mac)}`,
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

/** The outcome of {@link verifySignature}. */
export type SignatureVerification =
  | { valid: true; timestamp: number; signature: string }
  | { valid: false; reason: SignatureFailure };

function header(
  headers: Headers | Readonly<Record<string, string | undefined>>,
  name: string,
): string | null {
  if (headers instanceof Headers) return headers.get(name);
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === lower && value !== undefined) return value;
  }
  return null;
}

/**
 * Check a signed request against every active secret (several may be active during rotation).
 * The comparison is `crypto.subtle.verify`, which is constant-time.
 *
 * @example
 * ```ts
 * const raw = await request.arrayBuffer();
 * const result = await verifySignature(["new-secret", "old-secret"], raw, request.headers);
 * if (!result.valid) return new Response("unauthorized", { status: 401 });
 * ```
 */
export async function verifySignature(
  secrets: string | readonly string[],
  body: Body,
  headers: Headers | Readonly<Record<string, string | undefined>>,
  options: VerifySignatureOptions = {},
): Promise<SignatureVerification> {
  const timestamp = header(headers, SIGNATURE_TIMESTAMP_HEADER);
  const signature = header(headers, SIGNATURE_HEADER);
  const active = (typeof secrets === "string" ? [secrets] : secrets).filter((secret) => secret.length > 0);
  if (timestamp === null || signature === null || active.length === 0) {
    return { valid: false, reason: "missing" };
  }
  if (!/^\d{1,12}$/.test(timestamp)) return { valid: false, reason: "malformed" };
  const candidates = signature
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.startsWith("v1="))
    .map((part) => ({ hex: part.slice(3).toLowerCase(), mac: fromHex(part.slice(3)) }));
  // Each candidate costs a hash of the whole body per secret, before anyone is authenticated:
  // a few cover sender-side rotation; more is an attempt to burn CPU.
  if (
    candidates.length === 0 || candidates.length > MAX_SIGNATURES ||
    candidates.some(({ mac }) => mac === undefined)
  ) {
    return { valid: false, reason: "malformed" };
  }
  const seconds = Number(timestamp);
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - seconds) > (options.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS)) {
    return { valid: false, reason: "expired" };
  }
  const data = signedBytes(timestamp, body);
  for (const secret of active) {
    const key = await importKey(secret, "verify");
    for (const { hex, mac } of candidates) {
      if (await crypto.subtle.verify("HMAC", key, mac as Uint8Array<ArrayBuffer>, data)) {
        // The matching MAC identifies this request for replay checks.
        return { valid: true, timestamp: seconds, signature: hex };
      }
    }
  }
  return { valid: false, reason: "mismatch" };
}
