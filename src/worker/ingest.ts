import { type BulkKind, planChunks } from "../core/build-requests.ts";
import type { RowIssue } from "../core/errors.ts";
import { MAX_ROWS_PER_REQUEST } from "../core/limits.ts";
import { MESSAGE_BODY_BUDGET, type QueuedPart } from "./messages.ts";

/** A problem with the request as a whole, or with one row (`index`). Never carries a value. */
export interface RequestIssue {
  readonly index?: number;
  readonly path: string;
  readonly message: string;
}

/** Most issues an answer lists; `issueCount` tells how many there were. Keeps every 400 small. */
export const MAX_ANSWERED_ISSUES = 100;

/** What a request body becomes: what to queue (rows in Queue-sized chunks, events, deletions), or why it was refused. */
export type Ingested =
  | { ok: true; accepted: number; parts: QueuedPart[] }
  | { ok: false; status: 400 | 413; error: string; issues: RequestIssue[]; issueCount: number };

const refused = (
  status: 400 | 413,
  error: string,
  issues: readonly RequestIssue[],
  issueCount: number = issues.length,
): Ingested => ({
  ok: false,
  status,
  error,
  issues: issues.slice(0, MAX_ANSWERED_ISSUES),
  issueCount,
});

/** A 400 `invalid_request` listing the first issues (and counting them all). */
export const invalid = (issues: readonly RequestIssue[], issueCount?: number): Ingested =>
  refused(400, "invalid_request", issues, issueCount);

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Validate, merge and cut rows into Queue-message chunks; any bad row refuses the whole request. */
export function ingestRows(
  kind: BulkKind,
  rows: readonly unknown[],
  renamePath?: (issue: RowIssue) => RequestIssue,
): Ingested {
  // The core keeps the first issues (the answer lists 100) and counts them all.
  const { chunks, rejected, issueCount } = planChunks(rows, {
    kind,
    maxBytes: MESSAGE_BODY_BUDGET,
    maxIssues: MAX_ANSWERED_ISSUES,
  });
  if (issueCount > 0) return invalid(renamePath ? rejected.map(renamePath) : rejected, issueCount);
  return { ok: true, accepted: rows.length, parts: [{ kind, chunks }] };
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
  return ingestRows(kind, rows);
}

/**
 * RudderStack's transformer sends the company twice: as `company` and again inside `metadata`
 * (its traits). That copy is the company, not a property of the user: leave it out.
 */
function withoutCompanyCopy(user: Record<string, unknown>, company: Record<string, unknown>): object {
  const metadata = user["metadata"];
  if (!isObject(metadata) || !isObject(metadata["company"]) || metadata["company"]["id"] !== company["id"]) {
    return {};
  }
  const { company: _, ...rest } = metadata;
  return { metadata: rest };
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
  if (company === undefined) return ingestRows("users", [user]);
  if (!isObject(company) || typeof company["id"] !== "string") {
    return invalid([{ index: 0, path: "company.id", message: "company must be an object with a string id" }]);
  }
  const { id, ...properties } = company;
  if (user["company_id"] !== undefined && user["company_id"] !== id) {
    return invalid([{ index: 0, path: "company_id", message: "company_id and company.id disagree" }]);
  }
  const users = ingestRows("users", [{ ...user, company_id: id, ...withoutCompanyCopy(user, company) }]);
  const companyRow = Object.keys(properties).length > 0
    ? { company_id: id, metadata: properties }
    : { company_id: id };
  const companies = ingestRows("companies", [companyRow], (issue) => ({
    index: 0,
    path: issue.path === "company_id" ? "company.id" : `company.${issue.path.replace(/^metadata\./, "")}`,
    message: issue.message,
  }));
  if (!users.ok || !companies.ok) {
    return invalid(
      [...(users.ok ? [] : users.issues), ...(companies.ok ? [] : companies.issues)],
      (users.ok ? 0 : users.issueCount) + (companies.ok ? 0 : companies.issueCount),
    );
  }
  return { ok: true, accepted: 1, parts: [...users.parts, ...companies.parts] };
}
