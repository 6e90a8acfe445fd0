import { type BulkKind, type Chunk, planChunks } from "../core/build-requests.ts";
import type { RowIssue } from "../core/errors.ts";
import { DEFAULT_ROW_LIMITS, MAX_ROWS_PER_REQUEST } from "../core/limits.ts";
import { MESSAGE_BODY_BUDGET } from "./messages.ts";

/** A problem with the request as a whole, or with one row (`index`). Never carries a value. */
export interface RequestIssue {
  readonly index?: number;
  readonly path: string;
  readonly message: string;
}

/** Most issues an answer lists; `issueCount` tells how many there were. Keeps every 400 small. */
export const MAX_ANSWERED_ISSUES = 100;

/** What a request body becomes: Queue-sized chunks per kind, or why it was refused. */
export type Ingested =
  | { ok: true; accepted: number; chunks: { kind: BulkKind; chunks: Chunk[] }[] }
  | { ok: false; status: 400 | 413; error: string; issues: RequestIssue[]; issueCount: number };

const refused = (status: 400 | 413, error: string, issues: readonly RequestIssue[]): Ingested => ({
  ok: false,
  status,
  error,
  issues: issues.slice(0, MAX_ANSWERED_ISSUES),
  issueCount: issues.length,
});

const invalid = (issues: readonly RequestIssue[]): Ingested => refused(400, "invalid_request", issues);

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Rows with more metadata keys than any valid row may have, each as one issue. Why: the core's
 * schema reports every bad key of a row before its key count stops it, and a row of 150,000 bad
 * keys (a 2 MB body) made it throw; counting keys first answers such a row with one issue.
 */
function tooManyKeys(rows: readonly unknown[]): RowIssue[] {
  const { maxKeys } = DEFAULT_ROW_LIMITS;
  const issues: RowIssue[] = [];
  rows.forEach((row, index) => {
    const metadata = isObject(row) ? row["metadata"] : undefined;
    const count = isObject(metadata) ? Object.keys(metadata).length : 0;
    if (count > maxKeys) {
      issues.push({ index, path: "metadata", message: `must have at most ${maxKeys} keys, has ${count}` });
    }
  });
  return issues;
}

/** Validate, merge and cut rows into Queue-message chunks; any bad row refuses the whole request. */
function plan(
  kind: BulkKind,
  rows: readonly unknown[],
  renamePath?: (issue: RowIssue) => RequestIssue,
): Ingested {
  const wide = tooManyKeys(rows);
  if (wide.length > 0) return invalid(renamePath ? wide.map(renamePath) : wide);
  const { chunks, rejected } = planChunks(rows, { kind, maxBytes: MESSAGE_BODY_BUDGET });
  if (rejected.length > 0) return invalid(renamePath ? rejected.map(renamePath) : rejected);
  return { ok: true, accepted: rows.length, chunks: [{ kind, chunks }] };
}

/** A Userpilot bulk body: `{"users": [...]}` or `{"companies": [...]}`, 1 to 10,000 rows. */
export function ingestBulk(kind: BulkKind, body: unknown): Ingested {
  if (!isObject(body)) {
    return invalid([{ path: "", message: `body must be an object like {"${kind}": [...]}` }]);
  }
  const unknown = Object.keys(body).filter((key) => key !== kind);
  if (unknown.length > 0) {
    return invalid(unknown.map((key) => ({ path: key.slice(0, 64), message: "is not a known field" })));
  }
  const rows = body[kind];
  if (!Array.isArray(rows)) return invalid([{ path: kind, message: `${kind} must be an array` }]);
  if (rows.length === 0) return invalid([{ path: kind, message: `${kind} must not be empty` }]);
  if (rows.length > MAX_ROWS_PER_REQUEST) {
    return refused(413, "too_many_rows", [{
      path: kind,
      message: `at most ${MAX_ROWS_PER_REQUEST} rows per request, got ${rows.length}`,
    }]);
  }
  return plan(kind, rows);
}

/**
 * One user, as edge middleware sends it on login: `{ user_id, company_id?, metadata? }`, or with
 * Userpilot's real-time shape `company: { id, ...properties }`, which also identifies the company.
 */
export function ingestIdentify(body: unknown): Ingested {
  if (!isObject(body)) {
    return invalid([{ path: "", message: 'body must be an object like {"user_id": "…"}' }]);
  }
  const { company, ...user } = body;
  if (company === undefined) return plan("users", [user]);
  if (!isObject(company) || typeof company["id"] !== "string") {
    return invalid([{ index: 0, path: "company.id", message: "company must be an object with a string id" }]);
  }
  const { id, ...properties } = company;
  if (user["company_id"] !== undefined && user["company_id"] !== id) {
    return invalid([{ index: 0, path: "company_id", message: "company_id and company.id disagree" }]);
  }
  const users = plan("users", [{ ...user, company_id: id }]);
  const companyRow = Object.keys(properties).length > 0
    ? { company_id: id, metadata: properties }
    : { company_id: id };
  const companies = plan("companies", [companyRow], (issue) => ({
    index: 0,
    path: issue.path === "company_id" ? "company.id" : `company.${issue.path.replace(/^metadata\./, "")}`,
    message: issue.message,
  }));
  if (!users.ok || !companies.ok) {
    return invalid([...(users.ok ? [] : users.issues), ...(companies.ok ? [] : companies.issues)]);
  }
  return { ok: true, accepted: 1, chunks: [...users.chunks, ...companies.chunks] };
}
