import { USER_AGENT } from "./version.ts";

const HEADER_SAFE = /^[\x21-\x7e]+$/;

/**
 * What is wrong with an API key, if anything, in words that never quote it: missing, pasted with
 * its `Token ` prefix, or holding whitespace or characters an HTTP header cannot carry.
 *
 * @example
 * ```ts
 * apiKeyProblem("Token abc"); // "starts with \"Token \": set the key alone; the client adds the prefix"
 * ```
 */
export function apiKeyProblem(apiKey: unknown): string | undefined {
  if (typeof apiKey !== "string" || apiKey.length === 0) {
    return "is required (Userpilot's server-side API key)";
  }
  const prefix = /^(token|bearer)\s/i.exec(apiKey)?.[1];
  if (prefix !== undefined) return `starts with "${prefix} ": set the key alone; the client adds the prefix`;
  if (/\s/.test(apiKey)) return "contains whitespace (a space or a line break pasted with it?)";
  if (!HEADER_SAFE.test(apiKey)) {
    return "contains characters that cannot be sent in an HTTP header (non-ASCII?)";
  }
  return undefined;
}

/**
 * Check the API key before it reaches a `Headers` object: some runtimes quote an invalid header
 * value in their error message, which would print the key.
 */
export function assertApiKey(apiKey: unknown): asserts apiKey is string {
  const problem = apiKeyProblem(apiKey);
  if (problem !== undefined) throw new TypeError(`apiKey ${problem}`);
}

/** The headers every bulk call sends (the contract sheet: always all three), and who is calling. */
export function bulkHeaders(apiKey: string): Record<string, string> {
  return {
    Authorization: `Token ${apiKey}`,
    "Content-Type": "application/json",
    Accept: "application/json, text/plain, */*",
    "User-Agent": USER_AGENT,
  };
}

/** Userpilot's real-time API version, required on identify, track and delete calls. */
export const REALTIME_API_VERSION = "2020-09-22";

/** The headers of real-time and delete calls: the bulk ones plus `X-API-Version`. */
export function realtimeHeaders(apiKey: string): Record<string, string> {
  return { ...bulkHeaders(apiKey), "X-API-Version": REALTIME_API_VERSION };
}
