/**
 * RSA keys for Cloudflare Access tokens made in the tests (WebCrypto only, so both the workerd
 * tests and the Node ones use it): the public half as the team's key endpoint publishes it, the
 * private half as `hono/utils/jwt`'s `sign` takes it.
 */

/** One Access signing key, named by `kid`. */
export interface AccessTestKey {
  readonly kid: string;
  readonly publicJwk: JsonWebKey & { kid: string };
  readonly privateJwk: JsonWebKey & { kid: string; alg: "RS256" };
}

/** A fresh RS256 key pair, as Access signs with. */
export async function makeAccessKey(kid: string): Promise<AccessTestKey> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  const publicJwk = await crypto.subtle.exportKey("jwk", pair.publicKey) as JsonWebKey;
  const privateJwk = await crypto.subtle.exportKey("jwk", pair.privateKey) as JsonWebKey;
  return { kid, publicJwk: { ...publicJwk, kid }, privateJwk: { ...privateJwk, kid, alg: "RS256" } };
}
