import type { Context, MiddlewareHandler } from "hono";
import { validator } from "hono/validator";
import type * as v from "valibot";
import { requestIdOf } from "./accept.ts";
import type { AppEnv } from "./app-env.ts";
import { refusalOf } from "./route-schemas.ts";

/** The answer to a body that is not valid UTF-8 JSON. */
export function invalidJson(c: Context): Response {
  return c.json({ error: "invalid_json", message: "the body is not valid UTF-8 JSON" }, 400);
}

/** Hono's validator throws this for a body `JSON.parse` refuses (`onError` answers `invalidJson`). */
export const MALFORMED_JSON = "Malformed JSON in request body";

/**
 * In front of the body's validator: the request id (a malformed `Idempotency-Key` is a 400 before
 * the body is read), then 415 for any media type but `application/json`, and 400 for bytes that
 * are not UTF-8 (Hono alone would read them with replacement characters). The checked text is
 * left in Hono's body cache, so the validator parses it once.
 */
const strictJson: MiddlewareHandler<AppEnv> = async (c, next) => {
  const id = requestIdOf(c);
  if (!id.ok) return id.response;
  c.set("requestId", id.id);
  const type = (c.req.header("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") {
    return c.json({ error: "unsupported_media_type", message: "send Content-Type: application/json" }, 415);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(await c.req.arrayBuffer());
  } catch {
    return invalidJson(c);
  }
  // Hono keeps promises in its body cache (its type says otherwise).
  (c.req.bodyCache as Record<string, unknown>)["text"] = Promise.resolve(text);
  await next();
};

/**
 * A write route's body, validated with its schema (`route-schemas.ts`) through Hono's validator
 * and the schema's Standard Schema interface: the route reads the schema's output with
 * `c.req.valid("json")`, and Hono's typed client `hc` sends the schema's input type.
 */
export function jsonBody<S extends v.GenericSchema>(
  schema: S,
): [
  MiddlewareHandler<AppEnv>,
  MiddlewareHandler<AppEnv, string, { in: { json: v.InferInput<S> }; out: { json: v.InferOutput<S> } }>,
] {
  const check = validator("json", async (value, c) => {
    const result = await schema["~standard"].validate(value);
    if (result.issues === undefined) return result.value as v.InferOutput<S>;
    const { status, error, issues, issueCount } = refusalOf(result.issues as v.BaseIssue<unknown>[]);
    return c.json({ error, issues, issueCount }, status);
  });
  return [
    strictJson,
    check as unknown as MiddlewareHandler<
      AppEnv,
      string,
      { in: { json: v.InferInput<S> }; out: { json: v.InferOutput<S> } }
    >,
  ];
}
