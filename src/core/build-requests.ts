import { normalizeBaseUrl } from "./base-url.ts";
import { mergeRow, rowId } from "./coalesce.ts";
import type { RowIssue } from "./errors.ts";
import { rowJsonBytes } from "./fast-rows.ts";
import { DEFAULT_MAX_BODY_BYTES, MAX_ROWS_PER_REQUEST } from "./limits.ts";
import { assertApiKey, bulkHeaders } from "./request-headers.ts";
import type { Company, User } from "./schemas.ts";
import {
  type BulkKind,
  checkLimit,
  createValidator,
  resolveMaxIssues,
  validate,
  type Validated,
  type ValidateOptions,
} from "./validate-rows.ts";

export { type BulkKind, type ValidatedRows, type ValidateOptions, validateRows } from "./validate-rows.ts";

/** How rows are validated and cut into bodies. */
export interface ChunkOptions extends ValidateOptions {
  /** Most rows in one body; at most 10,000 (Userpilot's limit), the default. */
  maxRows?: number | undefined;
  /** Most UTF-8 bytes in one body; default 5 MiB. A row larger than this is rejected. */
  maxBytes?: number | undefined;
  /**
   * A row is rejected when a body of it alone would be over this many bytes (default `maxBytes`):
   * for a receiver that cuts bodies smaller, such as the ingestion endpoint, which queues rows in
   * messages of at most `INGEST_MESSAGE_BYTES`.
   */
  maxRowBytes?: number | undefined;
  /** Merge rows that share an id before sending (default `true`). */
  coalesce?: boolean | undefined;
}

/** Options of {@link buildBulkIdentifyRequests}. */
export interface BuildBulkIdentifyOptions extends ChunkOptions {
  /** Userpilot's server-side API key. */
  apiKey: string;
  /** `"us"` (default), `"eu"`, or a URL such as an enterprise host or the local sandbox. */
  baseUrl?: string | undefined;
}

/**
 * One body ready to send: its rows, their input positions, and the exact JSON text. `body` is
 * written from `rows` (one `JSON.stringify`) when it is first read, so a caller that needs only
 * the rows, such as a dry run or a queue, never pays for it; `bytes` is known before. (So read
 * `body` before changing `rows`, if you change them.)
 */
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
  /** Input rows in no chunk because they were rejected (a row may have several issues). */
  readonly rejectedRows: number;
}

/**
 * Merge rows that share an id into the first row with that id, in place: the arrays are
 * compacted, keeping each id's first position and input index.
 */
function coalesceInPlace({ rows, indexes, bytes }: Validated): void {
  const positionById = new Map<string, number>();
  let merged: Set<number> | undefined; // positions whose row absorbed a later one
  let kept = 0;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const id = rowId(row);
    const at = positionById.get(id);
    if (at === undefined) {
      positionById.set(id, kept);
      rows[kept] = row;
      indexes[kept] = indexes[i]!;
      bytes[kept] = bytes[i]!;
      kept++;
    } else {
      rows[at] = mergeRow(rows[at]!, row);
      (merged ??= new Set()).add(at);
    }
  }
  rows.length = kept;
  indexes.length = kept;
  bytes.length = kept;
  for (const at of merged ?? []) bytes[at] = rowJsonBytes(rows[at]!);
}

/** Take out, in place, the rows that could not fit in any body; one issue each. */
function removeOversizeRows({ rows, indexes, bytes }: Validated, room: number, limit: string): RowIssue[] {
  const issues: RowIssue[] = [];
  let kept = 0;
  for (let i = 0; i < rows.length; i++) {
    const size = bytes[i]!;
    if (size > room) {
      issues.push({
        index: indexes[i]!,
        path: "",
        message: `row is ${size} bytes as JSON, over ${limit}`,
      });
    } else {
      if (kept !== i) {
        rows[kept] = rows[i]!;
        indexes[kept] = indexes[i]!;
        bytes[kept] = size;
      }
      kept++;
    }
  }
  rows.length = kept;
  indexes.length = kept;
  bytes.length = kept;
  return issues;
}

/** A chunk whose body is written when first read, then kept. */
function plannedChunk(kind: BulkKind, rows: (User | Company)[], indexes: number[], bytes: number): Chunk {
  let body: string | undefined;
  return {
    rows,
    indexes,
    bytes,
    get body(): string {
      return (body ??= JSON.stringify({ [kind]: rows }));
    },
  };
}

/** The options of a plan, checked, with their defaults. */
function planSettings(options: ChunkOptions) {
  return {
    kind: options.kind ?? "users",
    maxRows: checkLimit("maxRows", options.maxRows ?? MAX_ROWS_PER_REQUEST, MAX_ROWS_PER_REQUEST),
    maxBytes: checkLimit("maxBytes", options.maxBytes ?? DEFAULT_MAX_BODY_BYTES, Number.MAX_SAFE_INTEGER),
    maxRowBytes: options.maxRowBytes === undefined
      ? undefined
      : checkLimit("maxRowBytes", options.maxRowBytes, Number.MAX_SAFE_INTEGER),
    maxIssues: resolveMaxIssues(options.maxIssues),
    limits: options.limits,
    coalesce: options.coalesce ?? true,
  } as const;
}

/** Merge and cut validated rows: the second half of {@link planChunks}. */
function cutPlan(validated: Validated, settings: ReturnType<typeof planSettings>): ChunkPlan {
  const { kind, maxRows, maxBytes, maxIssues } = settings;
  if (settings.coalesce) coalesceInPlace(validated);
  const frame = kind.length + 7; // {"users":[ and ]}
  const { maxRowBytes } = settings;
  const oversize = maxRowBytes !== undefined && maxRowBytes < maxBytes
    ? removeOversizeRows(validated, maxRowBytes - frame, `maxRowBytes (${maxRowBytes})`)
    : removeOversizeRows(validated, maxBytes - frame, `maxBytes (${maxBytes})`);
  const { rows: valid, indexes, bytes } = validated;

  const chunks: Chunk[] = [];
  const cut = (start: number, end: number, size: number): void => {
    // The arrays are this plan's own: a single body takes them whole.
    const whole = start === 0 && end === valid.length;
    chunks.push(plannedChunk(
      kind,
      whole ? valid : valid.slice(start, end),
      whole ? indexes : indexes.slice(start, end),
      size,
    ));
  };
  let start = 0;
  let size = frame;
  for (let i = 0; i < valid.length; i++) {
    const row = bytes[i]!;
    if (i > start && (i - start === maxRows || size + 1 + row > maxBytes)) {
      cut(start, i, size);
      start = i;
      size = frame;
    }
    size += (i > start ? 1 : 0) + row;
  }
  if (valid.length > start) cut(start, valid.length, size);

  let rejected = validated.rejected;
  if (oversize.length > 0) {
    // Both lists are in input order; the first maxIssues of the two together are kept.
    rejected = rejected.concat(oversize).sort((a, b) => a.index - b.index);
    if (rejected.length > maxIssues) rejected.length = maxIssues;
  }
  return {
    chunks,
    rejected,
    issueCount: validated.issueCount + oversize.length,
    rejectedRows: validated.rejectedRows + oversize.length,
  };
}

/**
 * Validate rows, merge repeated ids, and cut the good rows into bodies of at most `maxRows` rows
 * and `maxBytes` bytes. Pure: sends nothing. Rejected rows are reported without their values:
 * the first `maxIssues` issues (100 by default) in `rejected`, and how many there were in all in
 * `issueCount`. Validation measures each row's JSON size, so the cut is made before any body is
 * written; each body is one native `JSON.stringify` of its rows, made when first read.
 *
 * @example
 * ```ts
 * const { chunks, rejected, issueCount } = planChunks(rows, { kind: "users" });
 * for (const chunk of chunks) await send(chunk.body); // chunk.bytes: its UTF-8 length
 * ```
 */
export function planChunks(rows: Iterable<unknown>, options: ChunkOptions = {}): ChunkPlan {
  const settings = planSettings(options);
  return cutPlan(validate(rows, settings), settings);
}

/** Rows planned as they come: {@link planChunks} for a caller that reads its rows one by one. */
export interface ChunkPlanner {
  /** Validate one row now; its index is the number of rows added since the last plan. */
  add(row: unknown): void;
  /** Merge and cut the rows added since the last plan, and start again with none. */
  plan(): ChunkPlan;
}

/**
 * {@link planChunks} one window at a time: each row is validated as it is added and only its
 * validated copy is kept, so a stream (a file, an async iterable) is planned a window of rows at
 * a time while holding none of its input. `plan()` gives what `planChunks` would have given for
 * the rows added since the previous `plan()`.
 *
 * @example
 * ```ts
 * const planner = createChunkPlanner({ kind: "users" });
 * for await (const row of stream) {
 *   planner.add(row);
 *   if (++count % 10_000 === 0) await sendAll(planner.plan());
 * }
 * await sendAll(planner.plan());
 * ```
 */
export function createChunkPlanner(options: ChunkOptions = {}): ChunkPlanner {
  const settings = planSettings(options);
  let validator = createValidator(settings);
  return {
    add: (row) => validator.add(row),
    plan: () => {
      const { result } = validator;
      validator = createValidator(settings);
      return cutPlan(result, settings);
    },
  };
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
