import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";

const STATUS_NAMES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Entity",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** The routes existing Userpilot integrations call, whose errors take Userpilot's shape. */
export const USERPILOT_COMPATIBLE_PATHS: readonly string[] = [
  "/v1/identify",
  "/v1/companies/identify",
  "/v1/track",
  "/v1/users",
  "/v1/companies",
  "/v1/validate",
];

/**
 * Answer errors in Userpilot's documented shape, `{"errors": [{"details", "error", "error_code",
 * "message"}]}`, so integrations built for Userpilot (Segment, RudderStack, Singer targets) report
 * them as they report Userpilot's own: `error_code` is this endpoint's error (`invalid_request`,
 * `unauthorized`, …), `details` its issues, never a submitted value. The endpoint's own fields
 * (`error`, `issues`, `issueCount`) stay in the body too, so its own clients read it as before.
 *
 * @example
 * ```ts
 * app.use("/v1/track", userpilotErrors());
 * ```
 */
export function userpilotErrors(): MiddlewareHandler<AppEnv> {
  return async function userpilotErrorShape(c, next) {
    await next();
    const response = c.res;
    if (response.status < 400 || !(response.headers.get("Content-Type") ?? "").includes("application/json")) {
      return;
    }
    const body = (await response.clone().json().catch(() => undefined)) as
      | Record<string, unknown>
      | undefined;
    if (body === undefined || typeof body["error"] !== "string") return;
    const issues = body["issues"] as { message?: unknown }[] | undefined;
    const message = typeof body["message"] === "string"
      ? body["message"]
      : typeof issues?.[0]?.message === "string"
      ? issues[0].message
      : body["error"];
    const details = issues === undefined ? null : { issues, issueCount: body["issueCount"] ?? issues.length };
    const headers = new Headers(response.headers);
    headers.delete("Content-Length");
    // Userpilot's `errors` first; this endpoint's own fields stay beside it for its own clients.
    const error = {
      details,
      error: STATUS_NAMES[response.status] ?? "Error",
      error_code: body["error"],
      message,
    };
    c.res = new Response(JSON.stringify({ errors: [error], ...body }), { status: response.status, headers });
  };
}
