/** @jsxImportSource . */
import { Hono } from "../hono.ts";
import type { Context } from "hono";
import { csrf } from "hono/csrf";
import type { Child } from "./jsx-runtime.ts";
import * as v from "valibot";
import { actOnSetAside, exportSetAside } from "./routes.ts";
import { SetAsideSelectionSchema } from "./schemas.ts";
import type { AppEnv } from "../app-env.ts";
import { Confirm } from "./set-aside.tsx";
import { Dashboard, Layout, REFRESH_SECONDS } from "./view.tsx";
import { auditText } from "./audit.tsx";
import { adminAuth, fullAdmin } from "./auth.ts";
import { pageHeaders } from "./page-headers.ts";
import { ADMIN_PAGE_ROUTES } from "./page-routes.ts";
import { deliveryStub } from "../delivery/index.ts";

/** Rows set aside listed on one page. */
const PAGE_ROWS = 100;

/** The action form: which button, the rows ticked, and whether this is the confirmation. */
const ActionFormSchema = v.object({
  do: v.picklist(["redrive-selected", "purge-selected", "redrive-all", "purge-all"]),
  seq: v.optional(v.union([v.string(), v.array(v.string())]), []),
  confirm: v.optional(v.literal("yes")),
});

const ListQuerySchema = v.object({
  after: v.optional(v.pipe(v.string(), v.toNumber(), v.integer(), v.minValue(0)), "0"),
  /** The audit entry of the action just done: the notice is its record, never text from the URL. */
  done: v.optional(v.pipe(v.string(), v.toNumber(), v.integer(), v.minValue(1))),
});

const nonceOf = (c: Context<AppEnv>): string => c.get("nonce") ?? "";

/** Answer a whole page: the doctype, the layout, and no caching (it shows row values). */
async function page(
  c: Context<AppEnv>,
  title: string,
  body: Child,
  status: 200 | 400 | 403 = 200,
  refresh = 0,
) {
  c.header("Cache-Control", "no-store");
  const html = await (
    <Layout title={title} nonce={nonceOf(c)} refreshSeconds={refresh}>{body}</Layout>
  ).toString();
  return c.html(`<!doctype html>${html}`, status);
}

const problemPage = (c: Context<AppEnv>, message: string, status: 400 | 403 = 400) =>
  page(
    c,
    "Nothing done",
    <main>
      <h1>Nothing done</h1>
      <p>{message}</p>
      <p>
        <a href={ADMIN_PAGE_ROUTES.page}>Back to the operator's page</a>
      </p>
    </main>,
    status,
  );

/**
 * The operator's page, `GET /admin`, for a browser: HTTP Basic auth (any user name, one of
 * `ADMIN_KEYS` as the password: the browser's own prompt, no cookie, no session); forms that
 * redrive or purge rows set aside after a confirmation step; the rows as NDJSON.
 *
 * Cross-site requests: a browser resends Basic credentials to this origin by itself, even for a
 * form another site submits, so every form POST must come from this origin. `hono/csrf` refuses
 * one whose `Sec-Fetch-Site` is not `same-origin` and whose `Origin` is not this origin (every
 * current browser sends one or both on a POST); no token is needed. Other content types need a
 * CORS preflight, which `/admin` never grants. The CSP allows only the page's own inline script
 * and style (a nonce per response), and no other resource, form target or framing.
 *
 * @example
 * ```ts
 * app.route("/admin", adminPage());
 * ```
 */
// The return type is inferred on purpose: it carries every route, for Hono's typed client.
// deno-lint-ignore explicit-module-boundary-types
export function adminPage() {
  return new Hono<AppEnv>()
    .use(pageHeaders())
    .use(csrf())
    .use(adminAuth({ scheme: "Basic" }))
    .get("/", async (c) => {
      const query = v.safeParse(ListQuerySchema, c.req.query());
      const { after, done } = query.success ? query.output : { after: 0, done: undefined };
      const overview = await deliveryStub(c.env).overview({ after, limit: PAGE_ROWS });
      const entry = overview.audit.find((audited) => audited.seq === done);
      const notice = entry === undefined ? undefined : { text: `${auditText(entry)}.` };
      return page(
        c,
        "Userpilot ingestion: operator's page",
        <Dashboard
          overview={overview}
          now={Date.now()}
          after={after}
          notice={notice}
          canAct={c.get("credential")?.scopes.includes("full") ?? false}
        />,
        200,
        REFRESH_SECONDS,
      );
    })
    .post("/set-aside", fullAdmin((c, message) => problemPage(c, `${message}.`, 403)), async (c) => {
      const form = v.safeParse(ActionFormSchema, await c.req.parseBody({ all: true }));
      if (!form.success) return problemPage(c, "The form was not one this page sends.");
      const [action, scope] = form.output.do.split("-") as ["redrive" | "purge", "selected" | "all"];
      const ticked = [form.output.seq].flat().map(Number);
      const selection = v.safeParse(
        SetAsideSelectionSchema,
        scope === "all" ? { all: true } : { seqs: ticked },
      );
      if (!selection.success) return problemPage(c, "No rows were selected: tick at least one first.");
      if (form.output.confirm !== "yes") {
        const total = (await deliveryStub(c.env).status()).setAside.count;
        const seqs = "all" in selection.output ? "all" as const : selection.output.seqs;
        return page(c, "Confirm", <Confirm action={action} seqs={seqs} total={total} />);
      }
      const { seq } = await actOnSetAside(c, action, selection.output);
      return c.redirect(`${ADMIN_PAGE_ROUTES.page}?done=${seq}`, 303);
    })
    .get("/set-aside.ndjson", (c) => exportSetAside(c));
}
