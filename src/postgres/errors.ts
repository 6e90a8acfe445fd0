/**
 * The PostgreSQL source's one error, and the one decision of what a failure from the database may
 * say: PostgreSQL's message about the query (with where in the query it is), a connection
 * failure's code, never the connection string, and no value read from a row.
 * @module
 */
import { UserpilotError } from "../../mod.ts";

/**
 * A sync from PostgreSQL could not go on: the query is wrong or names columns no row could
 * send, the connection failed, or the package `postgres` is missing. The message says which,
 * and never holds the connection string or a row's value.
 *
 * @example
 * ```ts
 * try { await syncFromPostgres({ sql, query, kind: "users", client }); }
 * catch (error) { if (error instanceof PostgresSourceError) console.error(error.message); }
 * ```
 */
export class PostgresSourceError extends UserpilotError {
  override name = "PostgresSourceError";
}

/** The fields of postgres.js's errors this module reads. */
interface DriverError {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly message?: unknown;
  readonly position?: unknown;
  readonly hint?: unknown;
}

/** Connection failures and server shutdowns: the query was fine, the link was not. */
const CONNECTION_CODES: ReadonlySet<string> = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "57P01", // terminated by an administrator
  "57P02", // crash shutdown
  "57P03", // cannot connect now
  "25P03", // idle_in_transaction_session_timeout
]);

const codeOf = (error: unknown): string => {
  const code = (error as DriverError | null)?.code;
  return typeof code === "string" ? code : "";
};

/** Whether `error` lost the connection (worth reconnecting), rather than the query failing. */
export function isConnectionLoss(error: unknown): boolean {
  const code = codeOf(error);
  return CONNECTION_CODES.has(code) || code.startsWith("08");
}

/** `line 2, column 14` of `text` for PostgreSQL's 1-based character position. */
function lineAndColumn(text: string, position: number): string {
  const before = [...text].slice(0, position - 1).join("");
  const lines = before.split("\n");
  return `line ${lines.length}, column ${lines.at(-1)!.length + 1}`;
}

/**
 * What a failure from the driver may say, as one line. `query`: the text PostgreSQL's `position`
 * counts in (given when the failure is about the query as the caller wrote it). `reading`: the
 * failure came while rows were read, when PostgreSQL's message may quote a row's value, so quoted
 * text is left out.
 */
export function describeDriverError(error: unknown, query?: string, reading = false): string {
  const driver = (error ?? {}) as DriverError;
  const code = codeOf(error);
  if (driver.name === "PostgresError" && typeof driver.message === "string") {
    let message = reading ? driver.message.replace(/"[^"]*"/g, '"…"') : driver.message;
    const position = Number(driver.position);
    if (query !== undefined && Number.isInteger(position) && position > 0) {
      message += ` (at ${lineAndColumn(query, position)} of the query)`;
    }
    if (typeof driver.hint === "string" && !reading) message += `; hint: ${driver.hint}`;
    return `PostgreSQL: ${message} (SQLSTATE ${code})`;
  }
  if (code !== "") {
    const hint = /^E(CONNREFUSED|NOTFOUND|HOSTUNREACH|NETUNREACH|AI_AGAIN)$|^CONNECT_TIMEOUT$/.test(code)
      ? " (check the host and port in the connection string, and that the server is up)"
      : "";
    return `cannot talk to PostgreSQL: ${code}${hint}`;
  }
  return `cannot talk to PostgreSQL: ${error instanceof Error ? error.name : "unknown failure"}`;
}

/**
 * `text` without the connection string `url`, its `user:password`, or its password alone when it
 * is long enough to be told from ordinary words (none of this module's messages quotes it: this is
 * the last guard, for messages written elsewhere).
 */
export function redacted(text: string, url: string): string {
  const secrets = [url];
  try {
    const { password, username } = new URL(url);
    if (password !== "") secrets.push(`${username}:${password}`);
    for (const form of [password, decodeURIComponent(password)]) if (form.length >= 8) secrets.push(form);
  } catch {
    // not a URL: the string itself is all there is to hide
  }
  let out = text;
  for (const secret of secrets.filter((s) => s.length > 0).sort((a, b) => b.length - a.length)) {
    out = out.replaceAll(secret, "***");
  }
  return out;
}
