// A Node server with one long-lived client: identify calls from many requests are batched
// (flushAt rows a body, at most flushIntervalMs apart), and SIGTERM closes it, which sends what is
// still waiting before the process exits. Plain JavaScript, using the package (not yet on npm:
// install the tarball `npm pack` makes in a clone):
//   npm install /path/to/userpilot-bulk-0.1.0.tgz
//   USERPILOT_INGEST_URL=… USERPILOT_INGEST_KEY=… node node-server.mjs   (default: npm start's dev stack)
//   curl -X POST localhost:3000/login -d '{"user_id":"user_123","plan":"pro"}'
import { createServer } from "node:http";
import { createIngestClient } from "userpilot-bulk";

const userpilot = createIngestClient.fromEnv(
  {
    USERPILOT_INGEST_URL: "http://127.0.0.1:8787",
    USERPILOT_INGEST_KEY: "dev-ingest-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    ...process.env,
  },
  {
    flushAt: Number(process.env.FLUSH_AT ?? 100),
    flushIntervalMs: Number(process.env.FLUSH_INTERVAL_MS ?? 5000),
    onError: (error) => console.error(`userpilot: ${error.message}`),
  },
);

const server = createServer(async (request, response) => {
  let body = "";
  for await (const chunk of request) body += chunk;
  try {
    const { user_id, plan } = JSON.parse(body);
    // Never awaited, never throws: the response does not wait for Userpilot.
    userpilot.identify({ user_id, metadata: { plan, last_login_at: new Date() } });
    response.writeHead(204).end();
  } catch {
    response.writeHead(400).end();
  }
});
server.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});

// Without this, rows still waiting for a batch would be lost when the process is stopped.
process.once("SIGTERM", async () => {
  server.close();
  const result = await userpilot.close({ timeoutMs: 10_000 }); // everything sent, or reported to onError
  console.log(JSON.stringify(result));
  process.exit(result.failed > 0 ? 1 : 0);
});
