/**
 * `npm start`: the local stack (sandbox + `wrangler dev` of the Worker), and ready-to-paste
 * commands to try it. Ctrl-C stops both.
 */
import { SANDBOX_API_KEY } from "../src/sandbox/mod.ts";
import type { ReceivedAlert } from "./alert-receiver.ts";
import { DEV_ADMIN_KEY, DEV_INGEST_KEY, signedCurl, startLocalStack } from "./local-stack.ts";

const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const stack = await startLocalStack({
  workerPort: port("WORKER_PORT", 8787),
  sandboxPort: port("SANDBOX_PORT", 4010),
  persistTo: process.env["PERSIST_TO"] ?? ".wrangler/state",
  verbose: process.argv.includes("--verbose"),
  // Alerts (docs/alerts.md) go to a local receiver that verifies their signature and prints them.
  alerts: { port: port("ALERT_PORT", 0), onAlert: printAlert },
});

function printAlert(alert: ReceivedAlert): void {
  const time = alert.timestamp.slice(11, 19);
  console.log(
    `[alert ${time}] ${alert.type} ${alert.state} (since ${alert.since}): ${JSON.stringify(alert.data)}`,
  );
}
const body = JSON.stringify({
  user_id: "user_123",
  company_id: "acme",
  metadata: { name: "John Smith", plan: "pro" },
});

console.log(`
Local stack is up (no account needed):
  Worker (ingestion endpoint)  ${stack.workerUrl}    ingest key: ${DEV_INGEST_KEY}
                                                         admin key:  ${DEV_ADMIN_KEY}
  Userpilot sandbox            ${stack.sandboxUrl}    (1,200 rows/min, like Userpilot)
  Alert receiver               ${stack.alerts!.url}    (verifies each alert's signature, prints it here)

Identify a user with a signed request (Standard Webhooks headers, signed with openssl when pasted):

${signedCurl(stack.workerUrl, body)}

Or with the bearer key:

curl -s -X POST ${stack.workerUrl}/v1/identify -H 'Authorization: Bearer ${DEV_INGEST_KEY}' -H 'Content-Type: application/json' --data '${body}'

Then watch it arrive on the operator's page (your browser asks for a user name, any will do, and a
password: the admin key ${DEV_ADMIN_KEY}):

  ${stack.workerUrl}/admin

or as JSON (the status is for operators: it takes the admin key):

curl -s ${stack.workerUrl}/v1/status -H 'Authorization: Bearer ${DEV_ADMIN_KEY}'
curl -s ${stack.sandboxUrl}/__sandbox/users/user_123

Rows Userpilot refused even alone are set aside, never dropped; list and redrive them with:

curl -s ${stack.workerUrl}/v1/admin/set-aside -H 'Authorization: Bearer ${DEV_ADMIN_KEY}'
curl -s -X POST ${stack.workerUrl}/v1/admin/set-aside/redrive -H 'Authorization: Bearer ${DEV_ADMIN_KEY}' -H 'Content-Type: application/json' --data '{"all":true}'

Alerts (docs/alerts.md) are printed here as they arrive. To see one, revoke the sandbox's API key,
identify a user (the row is kept, and retried), then give the key back:

curl -s -X POST ${stack.sandboxUrl}/__sandbox/faults -H 'Content-Type: application/json' --data '{"revokedKeys":["${SANDBOX_API_KEY}"]}'
curl -s -X POST ${stack.sandboxUrl}/__sandbox/faults -H 'Content-Type: application/json' --data '{}'

Try \`npm run demo\` in another terminal for a burst of traffic. Ctrl-C stops everything.
`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void stack.stop().then(() => process.exit(0));
  });
}
