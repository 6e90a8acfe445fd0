/**
 * A Slack bridge for the endpoint's alerts (docs/alerts.md), as a tiny Cloudflare Worker: it
 * verifies each alert's Standard Webhooks signature, then posts the alert's one-line `summary` to a
 * Slack incoming webhook, which takes only its own body shape (`{ "text": ... }`). Deploy it, set
 * its URL as the endpoint's `ALERT_WEBHOOK_URL`, and give both Workers the same
 * `ALERT_SIGNING_SECRET`. Answering 502 when Slack fails makes the endpoint retry the alert later.
 * (In your project: import { verifySignature } from "userpilot-bulk".)
 */
import { verifySignature } from "../mod.ts";

type Bindings = { ALERT_SIGNING_SECRET: string; SLACK_WEBHOOK_URL: string };

/** The fields of an alert this bridge reads (docs/alerts.md has them all). */
type Alert = { type: string; state: "raised" | "reminder" | "resolved"; since: string; summary: string };

export default {
  async fetch(request: Request, env: Bindings): Promise<Response> {
    if (request.method !== "POST") return new Response(null, { status: 405 });
    const body = await request.text(); // the exact bytes that were signed
    const verified = await verifySignature(env.ALERT_SIGNING_SECRET, body, request.headers);
    if (!verified.valid) return new Response(null, { status: 401 });
    const alert = JSON.parse(body) as Alert;
    const icon = alert.state === "resolved" ? ":white_check_mark:" : ":rotating_light:";
    const slack = await fetch(env.SLACK_WEBHOOK_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: `${icon} ${alert.summary} (\`${alert.type}\`, since ${alert.since})` }),
    });
    return new Response(null, { status: slack.ok ? 204 : 502 });
  },
};
