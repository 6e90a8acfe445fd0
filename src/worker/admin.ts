import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { validator } from "hono/validator";
import * as v from "valibot";
import type { AppEnv } from "./app-env.ts";
import { matchesAny } from "./keys.ts";
import { log } from "./log.ts";
import { deliveryStub } from "./settings.ts";

/** Which rows set aside an action takes: `{"all": true}`, or `{"seqs": [...]}` from the list. */
export const SetAsideSelectionSchema: v.GenericSchema<unknown, { all: true } | { seqs: number[] }> = v.union([
  v.strictObject({ all: v.literal(true) }),
  v.strictObject({
    seqs: v.pipe(
      v.array(v.pipe(v.number(), v.integer(), v.minValue(1))),
      v.minLength(1),
      v.maxLength(10_000),
    ),
  }),
]);

/** The list's query: a page of `limit` rows after the `after` cursor, of one kind or both. */
export const SetAsideQuerySchema: v.GenericSchema<
  unknown,
  { kind?: "users" | "companies" | undefined; after: number; limit: number }
> = v.object({
  kind: v.optional(v.picklist(["users", "companies"])),
  after: v.optional(v.pipe(v.string(), v.toNumber(), v.integer(), v.minValue(0)), "0"),
  limit: v.optional(v.pipe(v.string(), v.toNumber(), v.integer(), v.minValue(1), v.maxValue(1000)), "100"),
});

const unauthorized = { message: { error: "unauthorized" } };

/**
 * Operators only: `Authorization: Bearer <key>` with one of `ADMIN_KEYS` (ingest credentials are
 * not enough). Every failure is the same 401.
 *
 * @example
 * ```ts
 * app.use("/v1/admin/*", adminAuth());
 * ```
 */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return bearerAuth<AppEnv>({
    verifyToken: (token, c) => matchesAny(token, c.get("settings").adminKeys),
    noAuthenticationHeader: unauthorized,
    invalidAuthenticationHeader: unauthorized,
    invalidToken: unauthorized,
  });
}

/** A short, stable name for the admin key of a request, for logs: a hash prefix, never the key. */
export async function keyFingerprint(c: Context<AppEnv>): Promise<string> {
  const key = (c.req.header("Authorization") ?? "").replace(/^Bearer\s+/i, "");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return Array.from(digest.subarray(0, 6), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

const invalid = (issues: readonly v.BaseIssue<unknown>[]) => ({
  error: "invalid_request" as const,
  issues: issues.slice(0, 20).map((issue) => ({ path: v.getDotPath(issue) ?? "", message: issue.message })),
});

const selection = validator("json", (value, c) => {
  const result = v.safeParse(SetAsideSelectionSchema, value);
  return result.success ? result.output : c.json(invalid(result.issues), 400);
});

/**
 * The operator's routes under `/v1/admin` (mounted behind {@link adminAuth}): rows set aside,
 * listed with their values, exported as NDJSON, redriven into the backlog, or purged. Every
 * action is logged with the admin key's fingerprint.
 *
 * @example
 * ```ts
 * app.use("/v1/admin/*", adminAuth()).route("/v1/admin", adminRoutes());
 * ```
 */
// The return type is inferred on purpose: it carries every route, for Hono's typed client.
// deno-lint-ignore explicit-module-boundary-types
export function adminRoutes() {
  return new Hono<AppEnv>()
    .get(
      "/set-aside",
      validator("query", (value, c) => {
        const result = v.safeParse(SetAsideQuerySchema, value);
        return result.success ? result.output : c.json(invalid(result.issues), 400);
      }),
      async (c) => {
        const query = c.req.valid("query");
        const stub = deliveryStub(c.env);
        const page = await stub.listSetAside(query);
        return c.json({ ...page, total: (await stub.status()).setAside.count });
      },
    )
    .get("/set-aside/export", (c) => {
      const stub = deliveryStub(c.env);
      const encoder = new TextEncoder();
      let after = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const page = await stub.listSetAside({ after, limit: 500 });
          if (page.rows.length > 0) {
            controller.enqueue(encoder.encode(page.rows.map((row) => `${JSON.stringify(row)}\n`).join("")));
          }
          if (page.next === null) controller.close();
          else after = page.next;
        },
      });
      return new Response(body, {
        headers: {
          "Content-Type": "application/x-ndjson",
          "Content-Disposition": 'attachment; filename="set-aside.ndjson"',
        },
      });
    })
    .post("/set-aside/redrive", selection, async (c) => {
      const chosen = c.req.valid("json");
      const redriven = await deliveryStub(c.env).redrive(chosen);
      log("warn", "admin_redrive", { key: await keyFingerprint(c), selection: describe(chosen), redriven });
      return c.json({ redriven });
    })
    .post("/set-aside/purge", selection, async (c) => {
      const chosen = c.req.valid("json");
      const purged = await deliveryStub(c.env).purgeSetAside(chosen);
      log("warn", "admin_purge", { key: await keyFingerprint(c), selection: describe(chosen), purged });
      return c.json({ purged });
    });
}

const describe = (chosen: { all: true } | { seqs: number[] }): string =>
  "all" in chosen ? "all" : `${chosen.seqs.length} selected`;
