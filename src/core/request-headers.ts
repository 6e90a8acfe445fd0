const HEADER_SAFE = /^[\x21-\x7e]+$/;

/**
 * Check the API key before it reaches a `Headers` object: some runtimes quote an invalid header
 * value in their error message, which would print the key.
 */
export function assertApiKey(apiKey: unknown): asserts apiKey is string {
  if (typeof apiKey !== "string" || apiKey.length === 0) {
    throw new TypeError("apiKey is required (Userpilot's server-side API key)");
  }
  if (!HEADER_SAFE.test(apiKey)) {
    throw new TypeError("apiKey contains spaces or characters that cannot be sent in an HTTP header");
  }
}

/** The headers every bulk call sends (the contract sheet: always all three). */
export function bulkHeaders(apiKey: string): Record<string, string> {
  return {
    Authorization: `Token ${apiKey}`,
    "Content-Type": "application/json",
    Accept: "application/json, text/plain, */*",
  };
}
