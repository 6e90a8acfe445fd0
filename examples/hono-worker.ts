/**
 * A Hono app on Cloudflare Workers that identifies each signed-in visitor through the ingestion
 * endpoint, in the background and only when their profile changed, and tracks an event from a
 * handler. (On a Node, Bun or Deno server: examples/hono-server.ts.)
 * (In your project: import { userpilotIdentify } from "userpilot-bulk/hono".)
 */
import { Hono } from "hono";
import { userpilotIdentify, type UserpilotVariables } from "../src/hono/mod.ts";

type Bindings = { USERPILOT_INGEST_URL: string; USERPILOT_INGEST_SIGNING_SECRET: string };
// UserpilotVariables: `c.var.userpilot`, typed in every handler.
type Variables = UserpilotVariables & { user?: { id: string; email: string; company: string } };

type AppEnv = { Bindings: Bindings; Variables: Variables };

const app = new Hono<AppEnv>();

// Stand-in for your auth middleware.
app.use(async (c, next) => {
  const id = c.req.header("X-Demo-User");
  if (id) c.set("user", { id, email: `${id}@example.com`, company: "hono_company" });
  await next();
});

app.use(
  // <AppEnv>: the callbacks see this app's c.env and c.var, typed.
  userpilotIdentify<AppEnv>({
    ingest: (c) => ({
      url: c.env.USERPILOT_INGEST_URL,
      signingSecret: c.env.USERPILOT_INGEST_SIGNING_SECRET,
    }),
    getUser: (c) => {
      const user = c.get("user");
      return user && { user_id: user.id, company_id: user.company, metadata: { email: user.email } };
    },
    onError: (error) => console.warn(`userpilot: ${error.message}`),
  }),
);

app.get("/", (c) => c.text(c.get("user") ? `Hello ${c.get("user")!.email}` : "Hello"));
app.post("/invoices", (c) => {
  // Sent with this request's identify, after the response, in executionCtx.waitUntil.
  if (c.var.user) c.var.userpilot.track({ user_id: c.var.user.id, event_name: "invoice_paid" });
  return c.body(null, 204);
});

export default app;
