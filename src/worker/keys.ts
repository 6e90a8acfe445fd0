import { timingSafeEqual } from "hono/utils/buffer";
import type { Credential } from "./credentials.ts";

/**
 * The credential whose secret `candidate` is (ingest or admin keys), or `undefined`; every
 * secret is compared, with Hono's `timingSafeEqual`, so timing reveals neither whether nor which.
 */
export async function matchingCredential<C extends Credential>(
  candidate: string,
  credentials: readonly C[],
): Promise<C | undefined> {
  const results = await Promise.all(
    credentials.map((credential) => timingSafeEqual(candidate, credential.secret)),
  );
  return credentials[results.indexOf(true)];
}
