/**
 * `npm start`: the local stack (sandbox + `wrangler dev` of the Worker), and ready-to-paste
 * commands to try it. Ctrl-C stops both.
 */
import { DEV_ADMIN_KEY, DEV_INGEST_KEY, signedCurl, startLocalStack } from "./local-stack.ts";

const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const stack = await startLocalStack({
  workerPort: port("WORKER_PORT", 8787),
  sandboxPort: port("SANDBOX_PORT", 4010),
  persistTo: process.env["PERSIST_TO"] ?? ".wrangler/state",
  verbose: process.argv.includes("--verbose"),
});
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

Try \`npm run demo\` in another terminal for a burst of traffic. Ctrl-C stops everything.
`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void stack.stop().then(() => process.exit(0));
  });
}
