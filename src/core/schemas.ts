import * as v from "valibot";
import { describeType } from "./describe.ts";
import { MAX_ROWS_PER_REQUEST, resolveLimits, type RowLimits } from "./limits.ts";
import { CONTROL_CHARACTER, isBlank, isPlainObject, metadataKeyProblem } from "./row-rules.ts";

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

/**
 * A schema for a user or company id (or an event name): a non-blank string of printable
 * characters, at most `maxIdLength` long. Messages name the field as `name`.
 */
export function createIdSchema(name: string, limits: RowLimits): v.GenericSchema<string, string> {
  return v.pipe(
    v.string((issue) => `${name} must be a string, ${received(issue)}`),
    v.check((s) => !isBlank(s), `${name} must not be empty`),
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
      const problem = metadataKeyProblem(key, limits);
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
        user_id: createIdSchema("user_id", limits),
        company_id: v.optional(createIdSchema("company_id", limits)),
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
        company_id: createIdSchema("company_id", limits),
        metadata: v.optional(createMetadataSchema(limits)),
      },
      keyProblem,
    ),
  );
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
