/**
 * How every JSON route reads its body and refuses a bad one, in one place: 415 for any media type
 * but `application/json`, 400 `invalid_json` for bytes that are not UTF-8 JSON, and for a body the
 * route's valibot schema refuses, `{ error, issues, issueCount }` with at most
 * {@link MAX_ANSWERED_ISSUES} issues, none quoting a submitted value. The write routes (ingest)
 * and the operator's routes (admin) both use it.
 * @module
 */
import type { Context, MiddlewareHandler, ValidationTargets } from "hono";
import * as v from "valibot";
import type { AppEnv } from "./app-env.ts";

/** A problem with the request as a whole, or with one row (`index`). Never carries a value. */
export interface RequestIssue {
  readonly index?: number;
  readonly path: string;
  readonly message: string;
}

/** Most issues an answer lists; `issueCount` tells how many there were. Keeps every 400 small. */
export const MAX_ANSWERED_ISSUES = 100;

type Dataset = { issues?: [v.BaseIssue<unknown>, ...v.BaseIssue<unknown>[]] | undefined };

/** Issues a schema reported with {@link reportIssues}, as the answer lists them; the first carries the total. */
const reported = new WeakMap<
  v.BaseIssue<unknown>,
  { issue: RequestIssue; total: number; status: 400 | 413 }
>();

/**
 * Inside a valibot check or transform: report `issues` found by other means (the core's planner
 * checks rows faster than the schema would), so the answer lists them as they are, with `total`
 * as the count, and `status` 413 for a body with too many rows.
 */
export function reportIssues(
  dataset: Dataset,
  addIssue: (info: { message: string }) => void,
  issues: readonly RequestIssue[],
  total: number = issues.length,
  status: 400 | 413 = 400,
): void {
  // A refusal always names something: with no issue, valibot would take the body as valid.
  if (issues.length === 0) [issues, total] = [[{ path: "", message: "the body was refused" }], 1];
  issues.slice(0, MAX_ANSWERED_ISSUES).forEach((issue, i) => {
    addIssue({ message: issue.message });
    reported.set(dataset.issues!.at(-1)!, { issue, total: i === 0 ? total : 0, status });
  });
}

/** A refused body's answer: 413 for too many rows, else 400; the first issues, and their count. */
function refusalOf(
  issues: readonly v.BaseIssue<unknown>[],
): { status: 400 | 413; error: string; issues: RequestIssue[]; issueCount: number } {
  let issueCount = 0;
  let status = 400 as 400 | 413;
  const listed = issues.slice(0, MAX_ANSWERED_ISSUES).map((issue) => {
    const known = reported.get(issue);
    if (known !== undefined) {
      issueCount += known.total;
      if (known.status === 413) status = 413;
      return known.issue;
    }
    issueCount++;
    return { path: (v.getDotPath(issue) ?? "").slice(0, 64), message: issue.message };
  });
  issueCount += issues.slice(MAX_ANSWERED_ISSUES).filter((issue) => !reported.has(issue)).length;
  return { status, error: status === 413 ? "too_many_rows" : "invalid_request", issues: listed, issueCount };
}

/** The answer to a body that is not valid UTF-8 JSON. */
function invalidJson(c: Context): Response {
  return c.json({ error: "invalid_json", message: "the body is not valid UTF-8 JSON" }, 400);
}

/** What a validating middleware declares to Hono: the schema's input in, its output out. */
type Validated<Target extends keyof ValidationTargets, S extends v.GenericSchema> = MiddlewareHandler<
  AppEnv,
  string,
  { in: { [K in Target]: v.InferInput<S> }; out: { [K in Target]: v.InferOutput<S> } }
>;

async function validate(c: Context, schema: v.GenericSchema, value: unknown): Promise<Response | object> {
  const result = await schema["~standard"].validate(value);
  if (result.issues === undefined) return result.value as object;
  const { status, error, issues, issueCount } = refusalOf(result.issues as v.BaseIssue<unknown>[]);
  return c.json({ error, issues, issueCount }, status);
}

/**
 * A route's JSON body, checked and validated with its schema: 415 for any media type but
 * `application/json` (any case, any parameters), 400 `invalid_json` for bytes that are not UTF-8
 * (read leniently they would turn into replacement characters) or text that is not JSON, then the
 * schema, through its Standard Schema interface. The route reads the schema's output with
 * `c.req.valid("json")`, as from Hono's own validator, and Hono's typed client `hc` sends the
 * schema's input type. The body is parsed here, not by Hono's validator, so the checks are the
 * same whatever Hono 4 release the app runs (they differ in how they read Content-Type).
 *
 * @example
 * ```ts
 * app.post("/v1/track", jsonBody(TrackBody), (c) => accept(c, c.req.valid("json")));
 * ```
 */
export function jsonBody<S extends v.GenericSchema>(schema: S): Validated<"json", S> {
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const type = (c.req.header("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json") {
      return c.json({ error: "unsupported_media_type", message: "send Content-Type: application/json" }, 415);
    }
    let body: unknown;
    try {
      body = JSON.parse(
        new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(await c.req.arrayBuffer()),
      );
    } catch {
      return invalidJson(c);
    }
    const valid = await validate(c, schema, body);
    if (valid instanceof Response) return valid;
    c.req.addValidatedData("json", valid);
    await next();
  };
  return middleware as unknown as Validated<"json", S>;
}

/**
 * A route's query string, validated with its schema and refused like a body.
 *
 * @example
 * ```ts
 * app.get("/set-aside", validQuery(SetAsideQuerySchema), (c) => c.json(c.req.valid("query")));
 * ```
 */
export function validQuery<S extends v.GenericSchema>(schema: S): Validated<"query", S> {
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const valid = await validate(c, schema, c.req.query());
    if (valid instanceof Response) return valid;
    c.req.addValidatedData("query", valid);
    await next();
  };
  return middleware as unknown as Validated<"query", S>;
}
