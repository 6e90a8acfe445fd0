/**
 * A Slack bridge for the endpoint's alerts (docs/alerts.md), as a tiny Cloudflare Worker: it
 * verifies each alert's Standard Webhooks signature, then posts a line of text made from it to a
 * Slack incoming webhook, which takes only its own body shape (`{ "text": ... }`). Deploy it, set
 * its URL as the endpoint's `ALERT_WEBHOOK_URL`, and give both Workers the same
 * `ALERT_SIGNING_SECRET`. Answering 502 when Slack fails makes the endpoint retry the alert later.
 * (In your project: import { verifySignature } from "userpilot-bulk".)
 */
import { verifySignature } from "../mod.ts";

type Bindings = { ALERT_SIGNING_SECRET: string; SLACK_WEBHOOK_URL: string };

/** The fields of an alert this bridge reads (docs/alerts.md has them all). */
type Alert = {
  type: string;
  state: "raised" | "reminder" | "resolved";
  since: string;
  data: Record<string, unknown>;
};

/** What each condition means, for a person. */
const MEANING: Record<string, string> = {
  set_aside: "rows, events or deletes were set aside: an operator should look (GET /v1/admin/set-aside)",
  backlog_age: "the oldest pending row has waited past ALERT_BACKLOG_AGE_MINUTES",
  userpilot_unauthorized: "Userpilot refuses USERPILOT_API_KEY (wrong or revoked); rows are kept and retried",
  events_blocked: "events to Userpilot keep failing",
  deletions_blocked: "deletes to Userpilot keep failing",
};

/**
 * Ids of the alerts posted lately (in this isolate): the endpoint retries an alert whose answer it
 * did not get (its 10 s wait ran out while Slack took it), with the same `webhook-id`.
 */
const posted = new Set<string>();
const POSTED_KEPT = 1000;

export default {
  async fetch(request: Request, env: Bindings): Promise<Response> {
    if (request.method !== "POST") return new Response(null, { status: 405 });
    const body = await request.text(); // the exact bytes that were signed
    const verified = await verifySignature(env.ALERT_SIGNING_SECRET, body, request.headers);
    if (!verified.valid) return new Response(null, { status: 401 });
    const id = request.headers.get("webhook-id") ?? "";
    if (posted.has(id)) return new Response(null, { status: 204 }); // a repeat: already in Slack
    const alert = JSON.parse(body) as Alert;
    const icon = alert.state === "resolved"
      ? ":white_check_mark: resolved:"
      : `:rotating_light: ${alert.state}:`;
    const text = `${icon} ${MEANING[alert.type] ?? alert.type} (\`${alert.type}\` since ${alert.since}) ${
      JSON.stringify(alert.data)
    }`;
    const slack = await fetch(env.SLACK_WEBHOOK_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text }),
    });
    if (!slack.ok) return new Response(null, { status: 502 });
    posted.add(id);
    if (posted.size > POSTED_KEPT) posted.delete(posted.values().next().value!);
    return new Response(null, { status: 204 });
  },
};
