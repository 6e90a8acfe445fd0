import * as v from "valibot";
import { describeType } from "./describe.ts";
import { MAX_ROWS_PER_REQUEST, resolveLimits, type RowLimits } from "./limits.ts";
import { utf8ExtraBytes } from "./utf8.ts";

/** One metadata value after validation (a `Date` has become its ISO 8601 string). */
export type MetadataValue = string | number | boolean | null;
/** Flat profile properties after validation: what `MetadataSchema` outputs. */
export type Metadata = { [key: string]: MetadataValue };
/** A user row after validation: what `UserSchema` outputs. */
export interface User {
  user_id: string;
  company_id?: string | undefined;
  metadata?: Metadata | undefined;
}
/** A company row after validation: what `CompanySchema` outputs. */
export interface Company {
  company_id: string;
  metadata?: Metadata | undefined;
}
/** A background job: what `JobSchema` outputs; `status` is a {@link JobStatus} unless Userpilot adds one. */
export interface Job {
  job_id: string;
  status: JobStatus | (string & Record<never, never>);
  [field: string]: unknown;
}

/** Keys that would reach `Object.prototype` when a profile is merged in plain JavaScript. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

// Any control character (C0, DEL, C1); ids and keys are identifiers, not text.
// deno-lint-ignore no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function received(issue: v.BaseIssue<unknown>): string {
  return `received ${describeType(issue.input)}`;
}

/** A schema for one metadata value: string, finite number, boolean, null, or a `Date`. */
function metadataValueSchema(limits: RowLimits): v.GenericSchema<unknown, MetadataValue> {
  return v.union(
    [
      v.pipe(
        v.string(),
        v.maxLength(limits.maxStringLength, `must be at most ${limits.maxStringLength} characters`),
        v.check((s) => s.isWellFormed(), "must be valid Unicode (it has an unpaired surrogate)"),
      ),
      v.pipe(v.number(), v.finite("must be a finite number")),
      v.boolean(),
      v.null(),
      v.pipe(
        v.date((issue) => `must be a valid Date, ${received(issue)}`),
        v.transform((date: Date): string => date.toISOString()),
      ),
    ],
    (issue) =>
      issue.input === undefined
        ? "is undefined; use null to remove the property, or leave the key out"
        : `must be a string, a finite number, a boolean, null or a Date; ${received(issue)}`,
  );
}

/** A schema for a user or company id: a non-blank string of printable characters. */
function idSchema(name: string, limits: RowLimits): v.GenericSchema<string, string> {
  return v.pipe(
    v.string((issue) => `${name} must be a string, ${received(issue)}`),
    v.check((s) => s.trim().length > 0, `${name} must not be empty`),
    v.maxLength(limits.maxIdLength, `${name} must be at most ${limits.maxIdLength} characters`),
    v.check((s) => !CONTROL_CHARACTER.test(s), `${name} must not contain control characters`),
    v.check((s) => s.isWellFormed(), `${name} must be valid Unicode (it has an unpaired surrogate)`),
  );
}

/**
 * The key rules, applied before `v.record` (which silently skips prototype keys). Past `maxKeys`
 * the metadata gets one issue for the count and its keys are not checked one by one: a row with
 * hundreds of thousands of bad keys costs one pass and one issue, not an issue per key.
 */
function metadataKeysCheck(
  limits: RowLimits,
): v.RawCheckAction<Record<string, unknown>> {
  return v.rawCheck<Record<string, unknown>>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const input = dataset.value;
    const keys = Object.keys(input);
    if (keys.length > limits.maxKeys) {
      addIssue({ message: `must have at most ${limits.maxKeys} keys, has ${keys.length}` });
      return;
    }
    for (const key of keys) {
      const problem = FORBIDDEN_KEYS.has(key)
        ? "is a reserved JavaScript name and is not allowed"
        : key.trim().length === 0
        ? "key must not be empty"
        : key.length > limits.maxKeyLength
        ? `key must be at most ${limits.maxKeyLength} characters`
        : CONTROL_CHARACTER.test(key)
        ? "key must not contain control characters"
        : !key.isWellFormed()
        ? "key must be valid Unicode (it has an unpaired surrogate)"
        : undefined;
      if (problem !== undefined) {
        addIssue({
          message: problem,
          path: [{ type: "object", origin: "key", input, key, value: input[key] }],
        });
      }
    }
  });
}

/** Build the metadata schema for the given limits. */
export function createMetadataSchema(
  options: Partial<RowLimits> = {},
): v.GenericSchema<unknown, Metadata> {
  const limits = resolveLimits(options);
  return v.pipe(
    v.custom<Record<string, unknown>>(
      isPlainObject,
      (issue) => `metadata must be an object of key/value pairs, ${received(issue)}`,
    ),
    metadataKeysCheck(limits),
    v.record(v.string(), metadataValueSchema(limits)),
  );
}

// strictObject reports a wrong type (expected `Object`), a missing key (expected `"key"`) and an
// unknown key (expected `never`) through one message function.
const keyProblem = (issue: v.BaseIssue<unknown>): string =>
  issue.expected === "never"
    ? "is not a known field; put profile properties under metadata"
    : issue.expected === "Object"
    ? `must be an object, ${received(issue)}`
    : "is required";

const rowObject = v.custom<Record<string, unknown>>(
  isPlainObject,
  (issue) => `row must be an object, ${received(issue)}`,
);

/**
 * A row has two or three fields; past `maxKeys` it gets one issue for the count instead of one
 * "not a known field" per key, so the issues of any row stay bounded.
 */
function rowFieldsCheck(limits: RowLimits): v.RawCheckAction<Record<string, unknown>> {
  return v.rawCheck<Record<string, unknown>>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const fields = Object.keys(dataset.value).length;
    if (fields > limits.maxKeys) {
      addIssue({ message: `row has ${fields} fields; put profile properties under metadata` });
    }
  });
}

/** Build the user-row schema for the given limits. */
export function createUserSchema(
  options: Partial<RowLimits> = {},
): v.GenericSchema<unknown, User> {
  const limits = resolveLimits(options);
  return v.pipe(
    rowObject,
    rowFieldsCheck(limits),
    v.strictObject(
      {
        user_id: idSchema("user_id", limits),
        company_id: v.optional(idSchema("company_id", limits)),
        metadata: v.optional(createMetadataSchema(limits)),
      },
      keyProblem,
    ),
  );
}

/** Build the company-row schema for the given limits. */
export function createCompanySchema(
  options: Partial<RowLimits> = {},
): v.GenericSchema<unknown, Company> {
  const limits = resolveLimits(options);
  return v.pipe(
    rowObject,
    rowFieldsCheck(limits),
    v.strictObject(
      {
        company_id: idSchema("company_id", limits),
        metadata: v.optional(createMetadataSchema(limits)),
      },
      keyProblem,
    ),
  );
}

/** Filled in by a {@link FastRowParser} for the row it accepts. */
export interface RowSize {
  /** UTF-8 bytes of the row's JSON text beyond its length in UTF-16 code units. */
  extraBytes: number;
}

/**
 * Returns the row exactly as the schema outputs it, or `undefined` to let the schema decide.
 * When it returns a row and `size` is given, `size.extraBytes` is set for that row.
 */
export type FastRowParser = (input: unknown, size?: RowSize) => User | Company | undefined;

/** Whether every property of `Object.prototype` (but `__proto__`) is a plain writable value, as in a clean realm. */
function plainObjectPrototype(): boolean {
  for (const key of Object.getOwnPropertyNames(Object.prototype)) {
    if (key === "__proto__") continue;
    const descriptor = Object.getOwnPropertyDescriptor(Object.prototype, key);
    if (descriptor === undefined || !("value" in descriptor) || descriptor.writable !== true) return false;
  }
  return true;
}

/**
 * The common case without valibot: a row that is certainly valid comes back exactly as the
 * user or company schema would output it (same keys, same order, a `Date` as its ISO string);
 * anything else, or anything unusual, gives `undefined` so the schema decides and names the
 * issues. It accepts a subset of what the schema accepts, so it can never let a bad row through.
 * Why: valibot's pipes cost about ten times a `JSON.stringify` of the same rows, which made
 * validation most of `buildBulkIdentifyRequests` (profiled, see BENCHMARKS.md). Keep it in step
 * with the schemas above; test/reliability/properties.test.ts checks the two agree.
 */
export function createFastRowParser(
  kind: "users" | "companies",
  options: Partial<RowLimits> = {},
): FastRowParser {
  const limits = resolveLimits(options);
  // A polluted realm sends every row to the schema, which handles it: an enumerable key on
  // Object.prototype would reach for...in below, and a setter or read-only property there would
  // catch valibot's assignments, which the object spread below does not make.
  for (const _ in {}) return () => undefined;
  if (!plainObjectPrototype()) return () => undefined;
  // Rows repeat the same few keys: check each distinct key once (bounded, for hostile inputs),
  // and compare with the previous row's key at the same position first (identity, no hashing).
  // Both remember the key's extra UTF-8 bytes.
  const checkedKeys = new Map<string, number>();
  const previousKeys: string[] = [];
  const previousExtra: number[] = [];
  // The extra UTF-8 bytes of the row being parsed (utf8ExtraBytes also finds lone surrogates).
  let extra = 0;
  const isId = (value: unknown): value is string => {
    if (
      typeof value !== "string" ||
      value.length > limits.maxIdLength ||
      value.trim().length === 0 ||
      CONTROL_CHARACTER.test(value)
    ) return false;
    const bytes = utf8ExtraBytes(value);
    if (bytes < 0) return false;
    extra += bytes;
    return true;
  };
  const keyExtraBytes = (key: string): number => {
    const known = checkedKeys.get(key);
    if (known !== undefined) return known;
    const bytes = !FORBIDDEN_KEYS.has(key) &&
        key.trim().length > 0 &&
        key.length <= limits.maxKeyLength &&
        !CONTROL_CHARACTER.test(key)
      ? utf8ExtraBytes(key)
      : -1;
    if (bytes >= 0 && checkedKeys.size < 4096) checkedKeys.set(key, bytes);
    return bytes;
  };
  const metadata = (input: unknown): Metadata | undefined => {
    if (!isPlainObject(input)) return undefined;
    // Copy first, then check the copy: V8 clones an object spread in one step, several times
    // faster than adding keys one by one, in the same order (own keys, as for...in sees them).
    // valibot's record walks for...in, which skips symbol keys a spread would copy: rows with
    // any go to the schema. (The realm was checked above, so for...in sees own keys only.)
    if (Object.getOwnPropertySymbols(input).length > 0) return undefined;
    const output: Metadata = { ...input } as Metadata;
    let count = 0;
    for (const key in output) {
      if (previousKeys[count] === key) extra += previousExtra[count]!;
      else {
        const bytes = keyExtraBytes(key);
        if (bytes < 0) return undefined;
        previousKeys[count] = key;
        previousExtra[count] = bytes;
        extra += bytes;
      }
      if (++count > limits.maxKeys) return undefined;
      const value: unknown = output[key];
      switch (typeof value) {
        case "string": {
          if (value.length > limits.maxStringLength) return undefined;
          const bytes = utf8ExtraBytes(value);
          if (bytes < 0) return undefined;
          extra += bytes;
          break;
        }
        case "number":
          if (!Number.isFinite(value)) return undefined;
          break;
        case "boolean":
          break;
        case "object":
          if (value === null) break;
          // valibot's date(): an instance whose numeric value is not NaN. (ISO strings are ASCII.)
          if (value instanceof Date && !Number.isNaN(+value)) output[key] = value.toISOString();
          else return undefined;
          break;
        default:
          return undefined;
      }
    }
    return output;
  };
  // strictObject reads declared keys with `in` and refuses any other key for...in finds. Output
  // keys come in the schema's order (id, company_id, metadata), as valibot's do.
  const idKey = kind === "companies" ? "company_id" : "user_id";
  return function parseRow(input, size) {
    if (!isPlainObject(input)) return undefined;
    for (const key in input) {
      if (key !== idKey && key !== "company_id" && key !== "metadata") return undefined;
    }
    extra = 0;
    const id = input[idKey];
    if (!isId(id)) return undefined;
    const row: Record<string, unknown> = { [idKey]: id };
    if (idKey === "user_id" && "company_id" in input) {
      const companyId = input["company_id"];
      if (!isId(companyId)) return undefined;
      row["company_id"] = companyId;
    }
    if ("metadata" in input) {
      const properties = metadata(input["metadata"]);
      if (properties === undefined) return undefined;
      row["metadata"] = properties;
    }
    if (size !== undefined) size.extraBytes = extra;
    return row as unknown as User | Company;
  };
}

/**
 * Flat profile properties: string, finite number, boolean or null (`null` removes the property
 * at Userpilot). A `Date` is accepted and sent as its ISO 8601 string.
 *
 * @example
 * ```ts
 * import * as v from "valibot";
 * v.parse(MetadataSchema, { plan: "pro", seats: 5, churned_at: null });
 * ```
 */
export const MetadataSchema: v.GenericSchema<unknown, Metadata> = createMetadataSchema();

/**
 * One row of `POST /v1/users/bulk_identify`.
 *
 * @example
 * ```ts
 * v.parse(UserSchema, { user_id: "user_123", company_id: "acme", metadata: { name: "John" } });
 * ```
 */
export const UserSchema: v.GenericSchema<unknown, User> = createUserSchema();

/**
 * One row of `POST /v1/companies/bulk_identify`.
 *
 * @example
 * ```ts
 * v.parse(CompanySchema, { company_id: "acme", metadata: { plan: "enterprise" } });
 * ```
 */
export const CompanySchema: v.GenericSchema<unknown, Company> = createCompanySchema();

/**
 * The body of `POST /v1/users/bulk_identify`: 1 to 10,000 user rows.
 *
 * @example
 * ```ts
 * v.parse(BulkIdentifyUsersBodySchema, { users: [{ user_id: "user_123" }] });
 * ```
 */
export const BulkIdentifyUsersBodySchema: v.GenericSchema<unknown, { users: User[] }> = v.strictObject(
  {
    users: v.pipe(
      v.array(UserSchema, "users must be an array"),
      v.minLength(1, "users must not be empty"),
      v.maxLength(MAX_ROWS_PER_REQUEST, `users must have at most ${MAX_ROWS_PER_REQUEST} rows`),
    ),
  },
  keyProblem,
);

/**
 * The body of `POST /v1/companies/bulk_identify`: 1 to 10,000 company rows.
 *
 * @example
 * ```ts
 * v.parse(BulkIdentifyCompaniesBodySchema, { companies: [{ company_id: "acme" }] });
 * ```
 */
export const BulkIdentifyCompaniesBodySchema: v.GenericSchema<
  unknown,
  { companies: Company[] }
> = v.strictObject(
  {
    companies: v.pipe(
      v.array(CompanySchema, "companies must be an array"),
      v.minLength(1, "companies must not be empty"),
      v.maxLength(MAX_ROWS_PER_REQUEST, `companies must have at most ${MAX_ROWS_PER_REQUEST} rows`),
    ),
  },
  keyProblem,
);

/** Every job status Userpilot documents; only `completed` and `failed` are terminal. */
export const JOB_STATUSES = [
  "queued",
  "validating",
  "processing",
  "pending_refresh",
  "completed",
  "failed",
] as const;

/** A documented background-job status. */
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * A background job, as answered by a bulk POST (202) or `GET /v1/background_jobs/{id}`.
 * Only `job_id` and `status` are required; every other field, known or not, is kept. A status
 * Userpilot adds later is kept as a string and treated as not terminal.
 *
 * @example
 * ```ts
 * const job = v.parse(JobSchema, await response.json());
 * ```
 */
export const JobSchema: v.GenericSchema<unknown, Job> = v.looseObject({
  job_id: v.pipe(v.string("job_id must be a string"), v.minLength(1, "job_id must not be empty")),
  status: v.string("status must be a string"),
});

/** True for `completed` and `failed`, the only statuses a job never leaves. */
export function isTerminalStatus(status: string): boolean {
  return status === "completed" || status === "failed";
}
