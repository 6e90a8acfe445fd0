import { Webhook } from "standardwebhooks";
import { afterEach, expect, test, vi } from "vitest";
import bridge from "../examples/alert-to-slack.ts";

// The Slack bridge of docs/alerts.md, fed alerts signed by the public standardwebhooks package.
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const env = { ALERT_SIGNING_SECRET: SECRET, SLACK_WEBHOOK_URL: "https://hooks.slack.example/services/T/B/X" };
const alert = {
  type: "userpilot_unauthorized",
  state: "raised",
  since: "2026-12-07T12:00:00.000Z",
  timestamp: "2026-12-07T12:00:00.000Z",
  data: { status: 401 },
};

afterEach(() => void vi.unstubAllGlobals());

function signed(body: string, secret = SECRET, id = "alert_userpilot_unauthorized_1"): Request {
  const now = new Date();
  const signature = new Webhook(secret).sign(id, now, body);
  return new Request("https://bridge.example/", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": signature,
    },
    body,
  });
}

test("a verified alert becomes one Slack message saying what it means, once; Slack failing makes the sender retry", async () => {
  const posted: unknown[] = [];
  let slackStatus = 200;
  vi.stubGlobal("fetch", (url: string, init: RequestInit) => {
    expect(url).toBe(env.SLACK_WEBHOOK_URL);
    posted.push(JSON.parse(String(init.body)));
    return Promise.resolve(new Response("ok", { status: slackStatus }));
  });
  expect((await bridge.fetch(signed(JSON.stringify(alert)), env)).status).toBe(204);
  expect(posted).toEqual([{
    text:
      ':rotating_light: raised: Userpilot refuses USERPILOT_API_KEY (wrong or revoked); rows are kept and retried (`userpilot_unauthorized` since 2026-12-07T12:00:00.000Z) {"status":401}',
  }]);
  // The endpoint sends it again (it never heard the answer): Slack gets it once.
  expect((await bridge.fetch(signed(JSON.stringify(alert)), env)).status).toBe(204);
  expect(posted).toHaveLength(1);
  // Slack failing: 502, so the endpoint retries; the retry goes through.
  const resolved = JSON.stringify({ ...alert, state: "resolved" });
  slackStatus = 500;
  expect((await bridge.fetch(signed(resolved, SECRET, "alert_2"), env)).status).toBe(502);
  slackStatus = 200;
  expect((await bridge.fetch(signed(resolved, SECRET, "alert_2"), env)).status).toBe(204);
  expect(posted).toHaveLength(3);
});

test("an alert not signed with the secret is refused, and nothing reaches Slack", async () => {
  const fetch = vi.fn();
  vi.stubGlobal("fetch", fetch);
  const other = "whsec_ZGV2LWFsZXJ0LXNlY3JldC1mb3ItbG9jYWwtdXNlISE=";
  expect((await bridge.fetch(signed(JSON.stringify(alert), other), env)).status).toBe(401);
  const tampered = signed(JSON.stringify(alert));
  const forged = new Request(tampered, { body: JSON.stringify({ ...alert, state: "resolved" }) });
  expect((await bridge.fetch(forged, env)).status).toBe(401);
  expect(fetch).not.toHaveBeenCalled();
});
