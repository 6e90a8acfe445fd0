import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { auth as basicCredentials } from "hono/utils/basic-auth";
import { validator } from "hono/validator";
import * as v from "valibot";
import { DeleteIdsSchema } from "../core/event-schema.ts";
import type { AppEnv } from "./app-env.ts";
import { matchesAny } from "./keys.ts";
import { log } from "./log.ts";
import type { SetAsideSelection } from "./set-aside-store.ts";
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

/** Whose fingerprints to forget: `{"all": true}`, or `{"kind": "users", "ids": [...]}`. */
export const ForgetSelectionSchema: v.GenericSchema<
  unknown,
  { all: true } | { kind: "users" | "companies"; ids: string[] }
> = v.union([
  v.strictObject({ all: v.literal(true) }),
  v.strictObject({ kind: v.picklist(["users", "companies"]), ids: DeleteIdsSchema }), // a gateway DELETE's ids
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

/**
 * A short, stable name for the admin key of a request, for logs: a hash prefix, never the key.
 * The key is a bearer token (the JSON routes) or a Basic password (the operator's page).
 */
export async function keyFingerprint(c: Context<AppEnv>): Promise<string> {
  const key = basicCredentials(c.req.raw)?.password ??
    (c.req.header("Authorization") ?? "").replace(/^Bearer\s+/i, "");
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
    .get("/set-aside/export", (c) => exportSetAside(c))
    .post("/set-aside/redrive", selection, async (c) => {
      return c.json({ redriven: await actOnSetAside(c, "redrive", c.req.valid("json")) });
    })
    .post("/set-aside/purge", selection, async (c) => {
      return c.json({ purged: await actOnSetAside(c, "purge", c.req.valid("json")) });
    })
    .post(
      "/fingerprints/forget",
      validator("json", (value, c) => {
        const result = v.safeParse(ForgetSelectionSchema, value);
        return result.success ? result.output : c.json(invalid(result.issues), 400);
      }),
      async (c) => {
        const chosen = c.req.valid("json");
        const forgotten = await deliveryStub(c.env).forgetFingerprints(chosen);
        log("warn", "admin_forget", {
          key: await keyFingerprint(c),
          all: "all" in chosen,
          forgotten,
        });
        return c.json({ forgotten });
      },
    );
}

/**
 * Every row set aside as NDJSON (`{ seq, kind, id, row, reason, attempts, setAsideAt }` a line),
 * streamed a page at a time, so a large set never sits in memory.
 *
 * @example
 * ```ts
 * app.get("/v1/admin/set-aside/export", (c) => exportSetAside(c));
 * ```
 */
export function exportSetAside(c: Context<AppEnv>): Response {
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
}

/**
 * Redrive or purge rows set aside, and log it with the admin key's fingerprint (never the key).
 * Returns how many rows it took. The JSON routes and the operator's page both act through here.
 *
 * @example
 * ```ts
 * const redriven = await actOnSetAside(c, "redrive", { seqs: [3, 4] });
 * ```
 */
export async function actOnSetAside(
  c: Context<AppEnv>,
  action: "redrive" | "purge",
  chosen: SetAsideSelection,
): Promise<number> {
  const stub = deliveryStub(c.env);
  const count = action === "redrive" ? await stub.redrive(chosen) : await stub.purgeSetAside(chosen);
  const field = action === "redrive" ? "redriven" : "purged";
  log("warn", `admin_${action}`, {
    key: await keyFingerprint(c),
    selection: describe(chosen),
    [field]: count,
  });
  return count;
}

const describe = (chosen: SetAsideSelection): string =>
  "all" in chosen ? "all" : `${chosen.seqs.length} selected`;
