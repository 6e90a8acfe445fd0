import * as v from "valibot";
import { type BulkKind, planChunks } from "../../core/build-requests.ts";
import type { RowIssue } from "../../core/errors.ts";
import { DeleteIdsSchema, type TrackEvent, TrackEventSchema } from "../../core/event-schema.ts";
import type { CompanyInput, MetadataInputValue, UserInput } from "../../core/inputs.ts";
import { DEFAULT_ROW_LIMITS, MAX_ROWS_PER_REQUEST } from "../../core/limits.ts";
import { CompanySchema, createIdSchema, MetadataSchema, UserSchema } from "../../core/schemas.ts";
import { utf8Length } from "../../core/utf8.ts";
import { MAX_ANSWERED_ISSUES, reportIssues, type RequestIssue } from "../json-body.ts";
import { type Accepted, MESSAGE_BODY_BUDGET, type QueuedPart } from "./messages.ts";

export type { Accepted } from "./messages.ts";

/**
 * One valibot schema per write route: the route validates its body with it (`route-body.ts`, as
 * Hono's validated `json`), the OpenAPI document is generated from it (`openapi.ts`), and Hono's
 * typed client `hc` takes its request type from it. Its output is what the route queues.
 *
 * Rows are checked by the core's row schemas through the core's planner (`planChunks`): its fast
 * path accepts exactly the rows the schema would, the schema decides the rest, and the rows come
 * out already cut into Queue-sized messages. So a row schema stands in the body schemas as a
 * valibot schema whose runtime is the planner, documented (`documentedAs`) as what it checks.
 */

/** The JSON Schema stand-ins: a planner-backed schema → the schema it applies. */
const stand = new WeakMap<object, v.GenericSchema>();

/** The schema a planner-backed schema applies, for the OpenAPI document (`undefined`: itself). */
export function documentedAs(schema: object): v.GenericSchema | undefined {
  return stand.get(schema);
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** Rows through the planner: the parts to queue, or the issues (renamed for where they sit). */
function plan(
  kind: BulkKind,
  rows: readonly unknown[],
  rename: (issue: RowIssue) => RequestIssue = (issue) => issue,
): { part: QueuedPart } | { issues: RequestIssue[]; total: number } {
  const { chunks, rejected, issueCount } = planChunks(rows, {
    kind,
    maxBytes: MESSAGE_BODY_BUDGET,
    maxIssues: MAX_ANSWERED_ISSUES,
  });
  return issueCount > 0 ? { issues: rejected.map(rename), total: issueCount } : { part: { kind, chunks } };
}

const ROW_SCHEMAS = { users: UserSchema, companies: CompanySchema } as const;
type RowInput<K extends BulkKind> = K extends "users" ? UserInput : CompanyInput;

/**
 * A JSON object with exactly the key `key`: an array or a scalar is refused at the body (path ""),
 * and every unknown key is listed (a users body sent to the companies route says "users").
 */
function envelope<K extends string>(key: K, example: string, value: v.GenericSchema, missing: string) {
  const body = v.custom<Record<string, unknown>>(
    isObject,
    `body must be an object like {"${key}": ${example}}`,
  );
  return [
    body,
    v.rawCheck<Record<string, unknown>>(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const unknown = Object.keys(dataset.value).filter((name) => name !== key);
      if (unknown.length === 0) return;
      reportIssues(
        dataset,
        addIssue,
        unknown.map((name) => ({ path: name.slice(0, 64), message: "is not a known field" })),
      );
    }),
    v.object({ [key]: value } as Record<K, v.GenericSchema>, missing),
  ] as const;
}

/** `{"users": [...]}` or `{"companies": [...]}`: 1 to 10,000 rows (more is a 413). */
function bulkBody<K extends BulkKind>(kind: K): v.GenericSchema<Record<K, RowInput<K>[]>, Accepted> {
  const [body, known, shape] = envelope(
    kind,
    "[...]",
    v.pipe(v.array(v.unknown(), `${kind} must be an array`), v.minLength(1, `${kind} must not be empty`)),
    `${kind} must be an array`,
  );
  // The OpenAPI document shows the rows the planner checks (both schemas of the pipe stand for it).
  const documented = v.strictObject({
    [kind]: v.pipe(v.array(ROW_SCHEMAS[kind]), v.minLength(1), v.maxLength(MAX_ROWS_PER_REQUEST)),
  });
  stand.set(body, documented).set(shape, documented);
  const schema = v.pipe(
    body,
    known,
    shape,
    v.rawTransform(({ dataset, addIssue, NEVER }): Accepted => {
      const list = (dataset.value as Record<string, unknown[]>)[kind]!;
      if (list.length > MAX_ROWS_PER_REQUEST) {
        const message = `at most ${MAX_ROWS_PER_REQUEST} rows per request, got ${list.length}`;
        reportIssues(dataset, addIssue, [{ path: kind, message }], 1, 413);
        return NEVER;
      }
      const planned = plan(kind, list);
      if ("issues" in planned) {
        reportIssues(dataset, addIssue, planned.issues, planned.total);
        return NEVER;
      }
      return { accepted: list.length, parts: [planned.part] };
    }),
  );
  return schema as unknown as v.GenericSchema<Record<K, RowInput<K>[]>, Accepted>;
}

export const BulkUsersBody: v.GenericSchema<{ users: UserInput[] }, Accepted> = bulkBody("users");
export const BulkCompaniesBody: v.GenericSchema<{ companies: CompanyInput[] }, Accepted> = bulkBody(
  "companies",
);

/** Userpilot's real-time shape of a user's company: its id, and its properties beside it. */
export type CompanyReference = { id: string } & { [property: string]: MetadataInputValue };

/** One user as edge middleware sends it: a user row, or Userpilot's real-time `company: { id, ... }`. */
export type IdentifyInput = UserInput & { company?: CompanyReference };

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

/** A user row and, with `company: { id, ...properties }`, the company row: parts, or issues. */
function identifyParts(
  body: Record<string, unknown>,
): { parts: QueuedPart[] } | { issues: RequestIssue[]; total: number } {
  const { company, ...user } = body;
  if (company === undefined) {
    const users = plan("users", [user]);
    return "issues" in users ? users : { parts: [users.part] };
  }
  if (!isObject(company) || typeof company["id"] !== "string") {
    return {
      issues: [{ index: 0, path: "company.id", message: "company must be an object with a string id" }],
      total: 1,
    };
  }
  const { id, ...properties } = company;
  if (user["company_id"] !== undefined && user["company_id"] !== id) {
    return {
      issues: [{ index: 0, path: "company_id", message: "company_id and company.id disagree" }],
      total: 1,
    };
  }
  const users = plan("users", [{ ...user, company_id: id, ...withoutCompanyCopy(user, company) }]);
  const companyRow = Object.keys(properties).length > 0
    ? { company_id: id, metadata: properties }
    : { company_id: id };
  const companies = plan("companies", [companyRow], (issue) => ({
    index: 0,
    path: issue.path === "company_id" ? "company.id" : `company.${issue.path.replace(/^metadata\./, "")}`,
    message: issue.message,
  }));
  if ("issues" in users || "issues" in companies) {
    const failed = ["issues" in users ? users : undefined, "issues" in companies ? companies : undefined]
      .filter((x) => x !== undefined);
    return { issues: failed.flatMap((x) => x.issues), total: failed.reduce((n, x) => n + x.total, 0) };
  }
  return { parts: [users.part, companies.part] };
}

const identifyObject = v.custom<Record<string, unknown>>(
  isObject,
  'body must be an object like {"user_id": "…"}',
);
// Documented with the core's id and metadata rules, plus the company reference.
stand.set(
  identifyObject,
  v.strictObject({
    user_id: createIdSchema("user_id", DEFAULT_ROW_LIMITS),
    company_id: v.optional(createIdSchema("company_id", DEFAULT_ROW_LIMITS)),
    metadata: v.optional(MetadataSchema),
    company: v.optional(
      v.pipe(
        v.looseObject({ id: v.string() }),
        v.description("Userpilot's real-time shape: the company id plus its properties"),
      ),
    ),
  }),
);

/** `POST /v1/identify`: one user (and, in Userpilot's real-time shape, its company). */
export const IdentifyBody: v.GenericSchema<IdentifyInput, Accepted> = v.pipe(
  identifyObject,
  v.rawTransform(({ dataset, addIssue, NEVER }): Accepted => {
    const result = identifyParts(dataset.value);
    if ("issues" in result) {
      reportIssues(dataset, addIssue, result.issues, result.total);
      return NEVER;
    }
    return { accepted: 1, parts: result.parts };
  }),
) as unknown as v.GenericSchema<IdentifyInput, Accepted>;

const companyObject = v.custom<Record<string, unknown>>(
  isObject,
  'body must be an object like {"company_id": "…"}',
);
stand.set(companyObject, CompanySchema);

/** `POST /v1/companies/identify`: one company row, `{ company_id, metadata? }`. */
export const CompanyIdentifyBody: v.GenericSchema<CompanyInput, Accepted> = v.pipe(
  companyObject,
  v.rawTransform(({ dataset, addIssue, NEVER }): Accepted => {
    const planned = plan("companies", [dataset.value]);
    if ("issues" in planned) {
      reportIssues(dataset, addIssue, planned.issues, planned.total);
      return NEVER;
    }
    return { accepted: 1, parts: [planned.part] };
  }),
) as unknown as v.GenericSchema<CompanyInput, Accepted>;

/** `POST /v1/track`: one event, `{ user_id, event_name, metadata? }`, within one Queue message. */
export const TrackBody: v.GenericSchema<TrackEvent, Accepted> = v.pipe(
  TrackEventSchema,
  v.rawTransform(({ dataset, addIssue, NEVER }): Accepted => {
    const bytes = utf8Length(JSON.stringify(dataset.value));
    if (bytes > MESSAGE_BODY_BUDGET) {
      const message = `the event is ${bytes} bytes as JSON, over ${MESSAGE_BODY_BUDGET}`;
      reportIssues(dataset, addIssue, [{ path: "metadata", message }]);
      return NEVER;
    }
    return { accepted: 1, parts: [{ kind: "events", events: [dataset.value] }] };
  }),
) as unknown as v.GenericSchema<TrackEvent, Accepted>;

/** `DELETE /v1/users {"users": [ids]}` or `/v1/companies {"companies": [ids]}`: 1 to 10,000 ids. */
function deleteBody<K extends BulkKind>(target: K): v.GenericSchema<Record<K, string[]>, Accepted> {
  const [body, known, shape] = envelope(
    target,
    '["<id>", ...]',
    DeleteIdsSchema,
    `${target} must be an array of ids`,
  );
  const documented = v.strictObject({ [target]: DeleteIdsSchema });
  stand.set(body, documented).set(shape, documented);
  return v.pipe(
    body,
    known,
    shape,
    v.transform((body): Accepted => {
      const ids = [...new Set((body as Record<string, string[]>)[target]!)];
      return { accepted: ids.length, parts: [{ kind: "deletions", target, ids }] };
    }),
  ) as unknown as v.GenericSchema<Record<K, string[]>, Accepted>;
}

export const DeleteUsersBody: v.GenericSchema<{ users: string[] }, Accepted> = deleteBody("users");
export const DeleteCompaniesBody: v.GenericSchema<{ companies: string[] }, Accepted> = deleteBody(
  "companies",
);
