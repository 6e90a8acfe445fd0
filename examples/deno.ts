/**
 * A Deno script: identify a user through the ingestion endpoint with a signed request.
 *   USERPILOT_INGEST_URL=… USERPILOT_INGEST_SIGNING_SECRET=… deno run --allow-net --allow-env examples/deno.ts
 *   (default: npm start's dev stack)
 * (In your project: import { createIngestClient } from "npm:userpilot-bulk" or the JSR package.)
 */
import { createIngestClient } from "../mod.ts";

const client = createIngestClient.fromEnv(
  {
    USERPILOT_INGEST_URL: "http://127.0.0.1:8787",
    USERPILOT_INGEST_SIGNING_SECRET: "whsec_ZGV2LXNpZ25pbmctc2VjcmV0LWZvci1sb2NhbC11c2U=", // npm start's dev secret
    ...Deno.env.toObject(),
  },
  { onError: (error) => console.error(`userpilot: ${error.message}`) },
);
client.identify({ user_id: "deno_user", metadata: { runtime: "deno", deno_version: Deno.version.deno } });
const result = await client.close(); // sends what waits, at most 25 s
console.log(JSON.stringify(result));
if (result.failed > 0) Deno.exit(1);
