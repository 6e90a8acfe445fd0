import * as v from "valibot";
import type { RowIssue } from "./errors.ts";
import { normalizeBaseUrl } from "./base-url.ts";
import { mergeRow } from "./coalesce.ts";
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_ISSUES,
  MAX_ROWS_PER_REQUEST,
  type RowLimits,
} from "./limits.ts";
import { assertApiKey, bulkHeaders } from "./request-headers.ts";
import {
  type Company,
  createCompanySchema,
  createFastRowParser,
  createUserSchema,
  type RowSize,
  type User,
} from "./schemas.ts";
import { utf8ExtraBytes, utf8Length } from "./utf8.ts";

/** Which bulk endpoint: users (default) or companies. */
export type BulkKind = "users" | "companies";

/** How rows are validated and cut into bodies. */
export interface ChunkOptions {
  /** `"users"` (default) or `"companies"`. */
  kind?: BulkKind | undefined;
  /** Most rows in one body; at most 10,000 (Userpilot's limit), the default. */
  maxRows?: number | undefined;
  /** Most UTF-8 bytes in one body; default 5 MiB. A row larger than this is rejected. */
  maxBytes?: number | undefined;
  /** Protective limits on ids, keys and values (see `DEFAULT_ROW_LIMITS`). */
  limits?: Partial<RowLimits> | undefined;
  /** Merge rows that share an id before sending (default `true`). */
  coalesce?: boolean | undefined;
  /**
   * Most issues kept in `rejected`, the first in input order (default 100, `DEFAULT_MAX_ISSUES`;
   * `Infinity` keeps them all). `issueCount` counts every issue either way.
   */
  maxIssues?: number | undefined;
}

/** Options of {@link buildBulkIdentifyRequests}. */
export interface BuildBulkIdentifyOptions extends ChunkOptions {
  /** Userpilot's server-side API key. */
  apiKey: string;
  /** `"us"` (default), `"eu"`, or a URL such as an enterprise host or the local sandbox. */
  baseUrl?: string | undefined;
}

/** One body ready to send: its rows, their input positions, and the exact JSON text. */
export interface Chunk<Row extends User | Company = User | Company> {
  readonly rows: Row[];
  /** For each row, the index in the input of the first row with its id. */
  readonly indexes: number[];
  readonly body: string;
  /** UTF-8 length of `body`. */
  readonly bytes: number;
}

/** Rows cut into chunks, and the rows rejected on the way. */
export interface ChunkPlan<Row extends User | Company = User | Company> {
  readonly chunks: Chunk<Row>[];
  /** The first `maxIssues` issues (100 by default), in input order. */
  readonly rejected: RowIssue[];
  /** Every issue found, kept in `rejected` or not. */
  readonly issueCount: number;
}

const pathOf = (issue: v.BaseIssue<unknown>): string =>
  (issue.path ?? [])
    .map((item) => {
      const key = String(item.key);
      return key.length > 64 ? `${key.slice(0, 64)}…` : key;
    })
    .join(".");

// Used only when a schema has no message of its own: never quotes the input.
const valueFreeMessage = (issue: v.BaseIssue<unknown>): string =>
  `invalid ${issue.kind === "schema" ? "type" : "value"}, expected ${issue.expected ?? "something else"}`;

/** Turn valibot issues into value-free {@link RowIssue}s. */
export function toRowIssues(index: number, issues: readonly v.BaseIssue<unknown>[]): RowIssue[] {
  return issues.map((issue) => ({ index, path: pathOf(issue), message: issue.message }));
}

function checkLimit(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be a whole number from 1 to ${max}`);
  }
  return value;
}

/** `maxIssues`, or its default; a `RangeError` unless it is a whole number ≥ 0 or `Infinity`. */
function resolveMaxIssues(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_ISSUES;
  if (value === Number.POSITIVE_INFINITY || (Number.isInteger(value) && value >= 0)) return value;
  throw new RangeError("maxIssues must be a whole number of 0 or more, or Infinity");
}

/** Rows that passed validation, each with its position in the input. */
export interface ValidatedRows<Row extends User | Company = User | Company> {
  readonly valid: { index: number; row: Row }[];
  /** The first `maxIssues` issues, in input order. */
  readonly rejected: RowIssue[];
  /** Every issue found, kept in `rejected` or not. */
  readonly issueCount: number;
}

/**
 * Validate every row against the user or company schema. Bad rows become value-free
 * `{ index, path, message }` issues (the first `maxIssues`, 100 by default; `issueCount` counts
 * them all); good rows come back as the schema outputs them (a `Date` as its ISO string).
 *
 * @example
 * ```ts
 * const { valid, rejected } = validateRows([{ user_id: "u1" }, { user_id: "" }]);
 * // valid: [{ index: 0, row: { user_id: "u1" } }], rejected: [{ index: 1, path: "user_id", ... }]
 * ```
 */
export function validateRows(
  rows: Iterable<unknown>,
  options: {
    kind?: BulkKind | undefined;
    limits?: Partial<RowLimits> | undefined;
    maxIssues?: number | undefined;
  } = {},
): ValidatedRows {
  const { rows: valid, indexes, rejected, issueCount } = validate(rows, options);
  return { valid: valid.map((row, i) => ({ index: indexes[i]!, row })), rejected, issueCount };
}

/** Valid rows, their input positions and their extra UTF-8 bytes (see `utf8ExtraBytes`), side by side. */
interface Validated {
  rows: (User | Company)[];
  indexes: number[];
  extraBytes: number[];
  /** The first `maxIssues` issues, in input order. */
  rejected: RowIssue[];
  issueCount: number;
}

/** {@link validateRows}, in parallel arrays (no object per row), with each row's extra UTF-8 bytes. */
function validate(
  rows: Iterable<unknown>,
  options: {
    kind?: BulkKind | undefined;
    limits?: Partial<RowLimits> | undefined;
    maxIssues?: number | undefined;
  },
): Validated {
  const kind = options.kind === "companies" ? "companies" : "users";
  const maxIssues = resolveMaxIssues(options.maxIssues);
  const fast = createFastRowParser(kind, options.limits);
  const size: RowSize = { extraBytes: 0 };
  // Built only when the fast path declines a row: valibot decides it and names the issues.
  let schema: v.GenericSchema<unknown, User | Company> | undefined;
  const out: Validated = { rows: [], indexes: [], extraBytes: [], rejected: [], issueCount: 0 };
  let index = 0;
  for (const input of rows) {
    const row = fast(input, size);
    if (row !== undefined) {
      out.rows.push(row);
      out.indexes.push(index++);
      out.extraBytes.push(size.extraBytes);
      continue;
    }
    schema ??= kind === "companies" ? createCompanySchema(options.limits) : createUserSchema(options.limits);
    const result = v.safeParse(schema, input, { message: valueFreeMessage });
    if (result.success) {
      out.rows.push(result.output);
      out.indexes.push(index);
      out.extraBytes.push(rowExtraBytes(result.output));
    } else {
      // Pushed one by one (a row can have hundreds of issues), and only the first maxIssues.
      const room = maxIssues - out.rejected.length;
      if (room > 0) {
        for (const issue of toRowIssues(index, result.issues.slice(0, room))) out.rejected.push(issue);
      }
      out.issueCount += result.issues.length;
    }
    index++;
  }
  return out;
}

/**
 * Merge rows that share an id into the first row with that id, in place: the arrays are
 * compacted, keeping each id's first position and input index.
 */
function coalesceInPlace({ rows, indexes, extraBytes }: Validated): void {
  const positionById = new Map<string, number>();
  const merged = new Set<number>();
  let kept = 0;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const id = "user_id" in row ? row.user_id : row.company_id;
    const at = positionById.get(id);
    if (at === undefined) {
      positionById.set(id, kept);
      rows[kept] = row;
      indexes[kept] = indexes[i]!;
      extraBytes[kept] = extraBytes[i]!;
      kept++;
    } else {
      rows[at] = mergeRow(rows[at]!, row);
      merged.add(at);
    }
  }
  rows.length = kept;
  indexes.length = kept;
  extraBytes.length = kept;
  for (const at of merged) extraBytes[at] = rowExtraBytes(rows[at]!);
}

/** The extra UTF-8 bytes of a valid row's JSON text: only its strings (ids, keys, values) can have any. */
function rowExtraBytes(row: User | Company): number {
  let extra = utf8ExtraBytes("user_id" in row ? row.user_id : row.company_id);
  if (row.company_id !== undefined && "user_id" in row) extra += utf8ExtraBytes(row.company_id);
  for (const [key, value] of Object.entries(row.metadata ?? {})) {
    extra += utf8ExtraBytes(key) + (typeof value === "string" ? utf8ExtraBytes(value) : 0);
  }
  return extra;
}

/**
 * Validate rows, merge repeated ids, and cut the good rows into bodies of at most `maxRows` rows
 * and `maxBytes` bytes. Pure: sends nothing. Rejected rows are reported without their values:
 * the first `maxIssues` issues (100 by default) in `rejected`, and how many there were in all in
 * `issueCount`.
 *
 * @example
 * ```ts
 * const { chunks, rejected } = planChunks(rows, { kind: "users" });
 * ```
 */
export function planChunks(rows: Iterable<unknown>, options: ChunkOptions = {}): ChunkPlan {
  const kind = options.kind ?? "users";
  const maxRows = checkLimit("maxRows", options.maxRows ?? MAX_ROWS_PER_REQUEST, MAX_ROWS_PER_REQUEST);
  const maxBytes = checkLimit(
    "maxBytes",
    options.maxBytes ?? DEFAULT_MAX_BODY_BYTES,
    Number.MAX_SAFE_INTEGER,
  );
  // Each row's extra UTF-8 bytes come from validation, which reads every string anyway: a body's
  // exact size is then its length plus theirs, with no pass over the body (see utf8ExtraBytes).
  const maxIssues = resolveMaxIssues(options.maxIssues);
  const validated = validate(rows, { kind, limits: options.limits, maxIssues });
  if (options.coalesce ?? true) coalesceInPlace(validated);
  const { rows: valid, indexes, extraBytes, rejected } = validated;
  let issueCount = validated.issueCount;

  const open = `{"${kind}":[`;
  const frame = utf8Length(open) + 2; // the opening and the closing "]}"
  const chunks: Chunk[] = [];
  // Optimistic path: while the next `maxRows` rows fit in `maxBytes` as one body (the usual
  // case: 10,000 rows of a few hundred bytes), one native JSON.stringify makes the body, the
  // same text the row-by-row cut below would build. Serialising row by row costs about twice
  // as much on V8 (profiled, see BENCHMARKS.md). The first group that does not fit switches
  // to the row-by-row cut for the rest, so large rows pay for at most one wasted attempt.
  let start = 0;
  while (start < valid.length) {
    const end = Math.min(valid.length, start + maxRows);
    // The arrays are this call's own: a single group takes them whole.
    const whole = start === 0 && end === valid.length;
    const groupRows = whole ? valid : valid.slice(start, end);
    const body = JSON.stringify({ [kind]: groupRows });
    let size = body.length; // the frame is ASCII
    for (let i = start; i < end; i++) size += extraBytes[i]!;
    if (size > maxBytes) break;
    chunks.push({ rows: groupRows, indexes: whole ? indexes : indexes.slice(start, end), body, bytes: size });
    start = end;
  }
  let parts: string[] = [];
  let current: Chunk = { rows: [], indexes: [], body: "", bytes: 0 };
  let bytes = frame;
  const close = (): void => {
    if (current.rows.length === 0) return;
    chunks.push({ ...current, body: `${open}${parts.join(",")}]}`, bytes });
    parts = [];
    current = { rows: [], indexes: [], body: "", bytes: 0 };
    bytes = frame;
  };
  for (let i = start; i < valid.length; i++) {
    const row = valid[i]!;
    const at = indexes[i]!;
    const text = JSON.stringify(row);
    const size = text.length + extraBytes[i]!;
    if (frame + size > maxBytes) {
      issueCount++;
      rejected.push({
        index: at,
        path: "",
        message: `row is ${size} bytes as JSON, over maxBytes (${maxBytes})`,
      });
      continue;
    }
    const full = current.rows.length === maxRows || (current.rows.length > 0 && bytes + 1 + size > maxBytes);
    if (full) close();
    bytes += (current.rows.length === 0 ? 0 : 1) + size;
    parts.push(text);
    current.rows.push(row);
    current.indexes.push(at);
  }
  close();
  // Rows too large come after validation's issues: sort, and keep the first maxIssues of both.
  rejected.sort((a, b) => a.index - b.index);
  if (rejected.length > maxIssues) rejected.length = maxIssues;
  return { chunks, rejected, issueCount };
}

/** The URL of a bulk endpoint under a normalised base URL. */
export function bulkIdentifyUrl(baseUrl: string, kind: BulkKind): string {
  return `${baseUrl}/v1/${kind}/bulk_identify`;
}

/**
 * Validate rows and build the `POST /v1/{users|companies}/bulk_identify` requests that would
 * deliver them, each within `maxRows` rows and `maxBytes` bytes. Pure: sends nothing.
 * Rejected rows come back as `{ index, path, message }`, without their values (the first
 * `maxIssues`, 100 by default; `issueCount` says how many there were in all).
 *
 * @example
 * ```ts
 * const { requests, rejected } = buildBulkIdentifyRequests(
 *   [{ user_id: "user_123", metadata: { plan: "pro" } }],
 *   { apiKey: "…", baseUrl: "eu" },
 * );
 * for (const request of requests) await fetch(request);
 * ```
 */
export function buildBulkIdentifyRequests(
  rows: Iterable<unknown>,
  options: BuildBulkIdentifyOptions,
): { requests: Request[]; rejected: RowIssue[]; issueCount: number } {
  assertApiKey(options.apiKey);
  const url = bulkIdentifyUrl(normalizeBaseUrl(options.baseUrl), options.kind ?? "users");
  const headers = bulkHeaders(options.apiKey);
  const { chunks, rejected, issueCount } = planChunks(rows, options);
  const requests = chunks.map((chunk) => new Request(url, { method: "POST", headers, body: chunk.body }));
  return { requests, rejected, issueCount };
}
