import type { Context, MiddlewareHandler } from "hono";
import type * as v from "valibot";
import { requestIdOf } from "./accept.ts";
import type { AppEnv } from "./app-env.ts";
import { refusalOf } from "./route-schemas.ts";

/** The answer to a body that is not valid UTF-8 JSON. */
export function invalidJson(c: Context): Response {
  return c.json({ error: "invalid_json", message: "the body is not valid UTF-8 JSON" }, 400);
}

/** What a write route's body middleware declares to Hono: the schema's input in, its output out. */
type JsonBody<S extends v.GenericSchema> = MiddlewareHandler<
  AppEnv,
  string,
  { in: { json: v.InferInput<S> }; out: { json: v.InferOutput<S> } }
>;

/**
 * A write route's body, checked and validated with its schema (`route-schemas.ts`): the request id
 * first (a malformed `Idempotency-Key` is a 400 before the body is read), then 415 for any media
 * type but `application/json` (any case, any parameters), 400 `invalid_json` for bytes that are
 * not UTF-8 (read leniently they would turn into replacement characters) or text that is not
 * JSON, then the schema, through its Standard Schema interface. The route reads the schema's
 * output with `c.req.valid("json")`, as from Hono's own validator, and Hono's typed client `hc`
 * sends the schema's input type. The body is parsed here, not by Hono's validator, so the checks
 * are the same whatever Hono 4 release the app runs (they differ in how they read Content-Type).
 */
export function jsonBody<S extends v.GenericSchema>(schema: S): JsonBody<S> {
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const id = requestIdOf(c);
    if (!id.ok) return id.response;
    c.set("requestId", id.id);
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
    const result = await schema["~standard"].validate(body);
    if (result.issues !== undefined) {
      const { status, error, issues, issueCount } = refusalOf(result.issues as v.BaseIssue<unknown>[]);
      return c.json({ error, issues, issueCount }, status);
    }
    c.req.addValidatedData("json", result.value as object);
    await next();
  };
  return middleware as unknown as JsonBody<S>;
}
