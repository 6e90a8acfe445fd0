/**
 * The request half of the bad-input corpus (test/fixtures/bad-inputs/requests.json): signature
 * headers and sequences of repeated request ids, built into real headers. Shared by the core's
 * test (test/reliability/bad-inputs.test.ts, Node) and the endpoint's
 * (test/worker/bad-inputs.test.ts, workerd). Signatures are made with the standardwebhooks
 * package, not our signPayload, so the corpus does not check our code against itself.
 */
import { Webhook } from "standardwebhooks";
import manifest from "../fixtures/bad-inputs/requests.json" with { type: "json" };

/** The secrets vitest.config.ts gives the Worker (`new` and `old` are active), and one that is not. */
export const SECRETS = {
  new: "whsec_dGVzdC1zaWduaW5nLXNlY3JldC1uZXctMDAwMDAwMDA=",
  old: "whsec_dGVzdC1zaWduaW5nLXNlY3JldC1vbGQtMDAwMDAwMDA=",
  other: "whsec_bm90LWEtY29uZmlndXJlZC1zZWNyZXQtMDAwMDAwMDA=",
} as const;
export type SecretName = keyof typeof SECRETS;
/** The secrets a verifier of the corpus holds: the Worker's two. */
export const ACTIVE_SECRETS: readonly string[] = [SECRETS.new, SECRETS.old];

export interface SignatureCase {
  readonly id: string;
  readonly why: string;
  /** The webhook-signature header, with tokens (see {@link expandSignature}). */
  readonly signature: string;
  /** The webhook-id that is signed (default: a fresh id); may be `{{repeat c n}}`. */
  readonly signedId?: string;
  /** Seconds between now and the signed timestamp. */
  readonly skewSeconds?: number;
  /** Headers sent instead of the signed ones (`null` leaves one out; `{{timestamp +n}}` is allowed). */
  readonly headers?: Readonly<Record<string, string | null>>;
  readonly endpoint: { readonly status: 202 | 401 };
  readonly core: { readonly valid: true } | { readonly valid: false; readonly reason: string };
}

export interface RepeatRequest {
  /** The request id; `null` sends none (bearer callers only). Scoped per case and run. */
  readonly id: string | null;
  /** The user_id of the body `{"user_id": user}`; "" makes the request a 400. */
  readonly user: string;
  /** Send with the bearer key and `Idempotency-Key` instead of signing. */
  readonly bearer?: boolean;
  /** With `bearer`: which key of test/support/credentials.ts (default `new`, the `tester` key). */
  readonly key?: "new" | "old" | "segment";
  /** The secret that signs (default `new`). */
  readonly secret?: SecretName;
  readonly skewSeconds?: number;
  /** The webhook-signature header with tokens (default `{{v1 <secret>}}`). */
  readonly signature?: string;
  /** The Queue refuses this request's messages. */
  readonly queueDown?: boolean;
}

export interface RepeatCase {
  readonly id: string;
  readonly why: string;
  readonly requests: readonly RepeatRequest[];
  readonly statuses: readonly number[];
  /** Whether each answer carries `Idempotent-Replayed: true`. */
  readonly replayed: readonly boolean[];
  /** The user_id of every row queued, in order. */
  readonly queued: readonly string[];
}

/** Who may do what: a request with a credential of test/support/credentials.ts, and its answer. */
export interface CredentialCase {
  readonly id: string;
  readonly why: string;
  readonly method: "GET" | "POST" | "DELETE";
  readonly path: string;
  /**
   * The Authorization header, with tokens: `{{new}}`, `{{segment}}`, `{{bare}}`, `{{admin}}`,
   * `{{viewer}}` are those keys, `{{basic admin}}` the Basic credentials with that key as password.
   */
  readonly authorization: string;
  /** A JSON body (sent with `Content-Type: application/json`). */
  readonly body?: unknown;
  readonly status: number;
  /** The answer's `error` code. */
  readonly error?: string;
}

export const CREDENTIAL_CASES: readonly CredentialCase[] = manifest
  .credentialCases as unknown as CredentialCase[];

export const SIGNATURE_CASES: readonly SignatureCase[] = manifest
  .signatureCases as unknown as SignatureCase[];
export const REPEAT_CASES: readonly RepeatCase[] = manifest.repeatCases as unknown as RepeatCase[];

const REPEAT = /^\{\{repeat (.) (\d+)\}\}$/;

/** Made-up v1 values: well-formed base64 of 32 bytes that match nothing. */
function noise(count: number): string {
  return Array.from({ length: count }, (_, i) => `v1,${btoa(`noise-${i}`.padEnd(32, "."))}`).join(" ");
}

/**
 * The header with its tokens replaced: `{{v1 s}}` is the standardwebhooks signature with secret
 * `s`, `{{mac s}}` its base64 alone, `{{cut s}}` the signature less its last two characters,
 * `{{noise n}}` n made-up values.
 */
export function expandSignature(template: string, sign: (secret: SecretName) => string): string {
  return template.replace(/\{\{(v1|mac|cut|noise) ([a-z0-9]+)\}\}/g, (_, kind: string, arg: string) => {
    if (kind === "noise") return noise(Number(arg));
    const signature = sign(arg as SecretName);
    return kind === "v1" ? signature : kind === "mac" ? signature.slice(3) : signature.slice(0, -2);
  });
}

/** The headers of a signed request for `body`, as a case describes them. */
export function signedHeaders(
  options: {
    readonly id: string;
    readonly signature: string;
    readonly skewSeconds?: number | undefined;
    readonly headers?: Readonly<Record<string, string | null>> | undefined;
  },
  body: string,
  now: number = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const match = REPEAT.exec(options.id);
  const id = match ? match[1]!.repeat(Number(match[2])) : options.id;
  const timestamp = now + (options.skewSeconds ?? 0);
  const sign = (secret: SecretName) =>
    new Webhook(SECRETS[secret]).sign(id, new Date(timestamp * 1000), body);
  const headers: Record<string, string> = {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": expandSignature(options.signature, sign),
  };
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === null) delete headers[name];
    else {headers[name] = value.replace(/\{\{timestamp \+(\d+)\}\}/, (_, n: string) =>
        String(timestamp + Number(n)));}
  }
  return headers;
}

/** The headers a signature case sends; `run` keeps ids apart between runs. */
export function signatureCaseHeaders(
  c: SignatureCase,
  body: string,
  run: string,
  now?: number,
): Record<string, string> {
  return signedHeaders(
    {
      id: c.signedId ?? `msg_${c.id}_${run}`,
      signature: c.signature,
      skewSeconds: c.skewSeconds,
      headers: c.headers,
    },
    body,
    now,
  );
}
