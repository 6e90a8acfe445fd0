/** Userpilot's hosts by region. Enterprise accounts pass their own host instead. */
export const USERPILOT_HOSTS: { readonly us: string; readonly eu: string } = Object.freeze({
  us: "https://analytex.userpilot.io",
  eu: "https://analytex-eu.userpilot.io",
});

// Some rendered Userpilot samples misspell the documented hosts as "analytix"; only those exact
// hosts are refused, so a proxy or enterprise host that merely contains the word still works.
const MISSPELLED_HOSTS: ReadonlyMap<string, string> = new Map(
  Object.values(USERPILOT_HOSTS).map((origin) => {
    const host = new URL(origin).hostname;
    return [host.replace("analytex", "analytix"), host];
  }),
);

function isLocalHost(hostname: string): boolean {
  return (
    hostname === "localhost" ||
    hostname.endsWith(".localhost") ||
    hostname === "[::1]" ||
    /^127(\.\d{1,3}){3}$/.test(hostname)
  );
}

/**
 * Turn what a user passes as a base URL into the origin (plus any path prefix) that `/v1/...`
 * paths are appended to. Accepts `us`, `eu`, or a URL; strips a trailing `/` and `/v1`.
 * HTTPS is required except for loopback hosts (the local sandbox).
 *
 * @example
 * ```ts
 * normalizeBaseUrl("eu"); // "https://analytex-eu.userpilot.io"
 * normalizeBaseUrl("https://analytex.userpilot.io/v1/"); // "https://analytex.userpilot.io"
 * ```
 */
export function normalizeBaseUrl(baseUrl: string = "us"): string {
  const trimmed = baseUrl.trim();
  const lower = trimmed.toLowerCase();
  if (lower === "us" || lower === "eu") return USERPILOT_HOSTS[lower];
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new TypeError(`baseUrl must be "us", "eu" or an https URL; could not parse it as a URL`);
  }
  const intended = MISSPELLED_HOSTS.get(url.hostname);
  if (intended !== undefined) {
    throw new TypeError(
      `baseUrl host "${url.hostname}" is a known documentation typo; Userpilot's host is "${intended}"`,
    );
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLocalHost(url.hostname))) {
    throw new TypeError(`baseUrl must use https (http is allowed only for localhost)`);
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new TypeError("baseUrl must not contain credentials, a query or a fragment");
  }
  const path = url.pathname.replace(/\/+$/, "").replace(/\/v1$/, "");
  return `${url.origin}${path}`;
}
