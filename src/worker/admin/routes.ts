/** The operator's JSON routes under `/v1/admin`: rows set aside, and fingerprints. @module */
import { Hono } from "../hono.ts";
import type { Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import {
  type AuditAction,
  audited,
  type AuditEntry,
  deliveryStub,
  type SetAsideSelection,
} from "../delivery/index.ts";
import { jsonBody, validQuery } from "../json-body.ts";
import { fullAdmin } from "./auth.ts";
import { ForgetSelectionSchema, SetAsideQuerySchema, SetAsideSelectionSchema } from "./schemas.ts";

/** Which rows set aside a redrive or purge takes, refused like any body (`json-body.ts`). */
const selection = jsonBody(SetAsideSelectionSchema);
/** Changes to what is kept take a full admin key; reading takes any. */
const full = fullAdmin();

/**
 * The operator's routes under `/v1/admin` (mounted behind {@link adminAuth}): rows set aside,
 * listed with their values, exported as NDJSON (any admin key), redriven into the backlog, or
 * purged (a full one). Every action is audited with the admin credential's name.
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
      validQuery(SetAsideQuerySchema),
      async (c) => {
        const query = c.req.valid("query");
        const stub = deliveryStub(c.env);
        const page = await stub.listSetAside(query);
        return c.json({ ...page, total: (await stub.status()).setAside.count });
      },
    )
    .get("/set-aside/export", (c) => exportSetAside(c))
    .post("/set-aside/redrive", full, selection, async (c) => {
      return c.json({ redriven: (await actOnSetAside(c, "redrive", c.req.valid("json"))).taken });
    })
    .post("/set-aside/purge", full, selection, async (c) => {
      return c.json({ purged: (await actOnSetAside(c, "purge", c.req.valid("json"))).taken });
    })
    .post(
      "/fingerprints/forget",
      full,
      jsonBody(ForgetSelectionSchema),
      async (c) => {
        const chosen = c.req.valid("json");
        const forgotten = await deliveryStub(c.env).forgetFingerprints(chosen);
        await audit(c, "forget", "all" in chosen ? null : chosen.ids.length, forgotten);
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
 * Redrive or purge rows set aside, and audit it with the admin credential's name (never the key).
 * Returns the audit entry (`taken`: how many rows it took). The JSON routes and the operator's
 * page both act through here.
 *
 * @example
 * ```ts
 * const { taken } = await actOnSetAside(c, "redrive", { seqs: [3, 4] });
 * ```
 */
export async function actOnSetAside(
  c: Context<AppEnv>,
  action: "redrive" | "purge",
  chosen: SetAsideSelection,
): Promise<AuditEntry> {
  const stub = deliveryStub(c.env);
  const count = action === "redrive" ? await stub.redrive(chosen) : await stub.purgeSetAside(chosen);
  return await audit(c, action, "all" in chosen ? null : chosen.seqs.length, count);
}

/** Audit an operator's action (`audited`): by this request's admin credential, on its route. */
const audit = (c: Context<AppEnv>, action: AuditAction, named: number | null, taken: number) =>
  audited(c.env, {
    credential: c.get("credential")?.name ?? "",
    action,
    route: `${c.req.method} ${c.req.path}`,
    named,
    taken,
  });
