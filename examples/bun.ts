/**
 * A Bun script: identify a user and a company through the ingestion endpoint with a bearer key.
 *   USERPILOT_INGEST_URL=… USERPILOT_INGEST_KEY=… bun examples/bun.ts   (default: npm start's dev stack)
 * (In your project: import { createIngestClient } from "userpilot-bulk".)
 */
import { createIngestClient } from "../mod.ts";

const client = createIngestClient.fromEnv(
  {
    USERPILOT_INGEST_URL: "http://127.0.0.1:8787",
    USERPILOT_INGEST_KEY: "dev-ingest-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    ...process.env,
  },
  { onError: (error) => console.error(`userpilot: ${error.message}`) },
);
client.identify({
  user_id: "bun_user",
  company_id: "bun_company",
  metadata: { runtime: "bun", bun_version: process.versions["bun"] ?? "unknown" },
});
client.identifyCompany({ company_id: "bun_company", metadata: { plan: "pro" } });
const result = await client.close(); // sends what waits, at most 25 s
console.log(JSON.stringify(result));
if (result.failed > 0) process.exit(1);
