/**
 * Type test, checked by `tsc` in `npm run check` (never run): `userpilotIdentify`'s callbacks see
 * the app's own `c.env` and `c.var`, and `getUser` must return the core's `UserInput`. Each
 * `@ts-expect-error` fails the check if the misuse below it ever type-checks.
 */
import { Hono } from "hono";
import { createIngestClient, type UserInput } from "../../mod.ts";
import { userpilotIdentify, type UserpilotVariables } from "../../src/hono/mod.ts";

type AppEnv = {
  Bindings: { USERPILOT_INGEST_URL: string; USERPILOT_INGEST_SIGNING_SECRET: string };
  Variables: { user: { id: string; plan: "free" | "pro"; seats: number } };
};

const app = new Hono<AppEnv>();

app.use(
  userpilotIdentify<AppEnv>({
    ingest: (c) => {
      const url: string = c.env.USERPILOT_INGEST_URL;
      // @ts-expect-error: not a binding of this app
      void c.env.USERPILOT_INGEST_KEY;
      // @ts-expect-error: a binding is a string here, not a number
      const wrong: number = c.env.USERPILOT_INGEST_SIGNING_SECRET;
      void wrong;
      return { url, signingSecret: c.env.USERPILOT_INGEST_SIGNING_SECRET };
    },
    getUser: (c) => {
      const user = c.get("user");
      const seats: number = c.var.user.seats;
      // @ts-expect-error: not a variable of this app
      c.get("session");
      // @ts-expect-error: plan is "free" | "pro", not a number
      const plan: number = user.plan;
      void plan;
      return { user_id: user.id, metadata: { plan: user.plan, seats } };
    },
  }),
);

// Without the type argument the callbacks are untyped, as with Hono's own createMiddleware:
// app.use cannot pass the app's env into the call (its own type parameter is inferred too).
userpilotIdentify({
  ingest: (c) => ({ url: c.env.ANYTHING, key: "k" }),
  getUser: (c) => ({ user_id: c.var.anything }),
});

userpilotIdentify<AppEnv>({
  ingest: { url: "https://ingest.example.com", key: "k" },
  // @ts-expect-error: getUser returns the core's UserInput: user_id is a string
  getUser: (c) => ({ user_id: c.var.user.seats }),
});

userpilotIdentify<AppEnv>({
  ingest: { url: "https://ingest.example.com", key: "k" },
  // @ts-expect-error: metadata values are flat (string, number, boolean, null, Date)
  getUser: (c) => ({ user_id: c.var.user.id, metadata: { nested: { plan: c.var.user.plan } } }),
});

const typed: UserInput = { user_id: "u1", metadata: { plan: "pro" } };
userpilotIdentify<AppEnv>({ ingest: { url: "https://ingest.example.com", key: "k" }, getUser: () => typed });

// Handlers see `c.var.userpilot`: in an app whose Variables name UserpilotVariables ...
const withCalls = new Hono<{ Variables: UserpilotVariables & { user: { id: string } } }>();
withCalls.use(
  userpilotIdentify({ client: createIngestClient({ url: "https://ingest.example.com", key: "k" }) }),
);
withCalls.post("/invoices", (c) => {
  c.var.userpilot.track({ user_id: c.var.user.id, event_name: "invoice_paid", metadata: { amount: 30 } });
  c.get("userpilot").identifyCompany({ company_id: "acme", metadata: { name: "Acme" } });
  // @ts-expect-error: an event has a name
  c.var.userpilot.track({ user_id: c.var.user.id });
  // @ts-expect-error: a user's reserved `email` is text
  c.var.userpilot.identify({ user_id: c.var.user.id, metadata: { email: 1 } });
  return c.body(null, 204);
});

// ... and in routes chained after the middleware, which adds the variable.
new Hono()
  .use(userpilotIdentify({ ingest: { url: "https://ingest.example.com", key: "k" } }))
  .get("/", (c) => {
    c.var.userpilot.identify({ user_id: "u1" });
    return c.text("ok");
  });
