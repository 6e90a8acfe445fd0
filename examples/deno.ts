/**
 * A Deno script: identify a user through the ingestion endpoint with a signed request.
 *   deno run --allow-net --allow-env examples/deno.ts
 * (In your project: import { createIngestClient } from "npm:userpilot-bulk" or the JSR package.)
 */
import { createIngestClient } from "../mod.ts";

const client = createIngestClient(
  {
    url: Deno.env.get("INGEST_URL") ?? "http://127.0.0.1:8787",
    signingSecret: Deno.env.get("INGEST_SIGNING_SECRET") ??
      "whsec_ZGV2LXNpZ25pbmctc2VjcmV0LWZvci1sb2NhbC11c2U=", // npm start's dev secret
  },
  { onError: (error) => console.error(`userpilot: ${error.message}`) },
);
client.identify({ user_id: "deno_user", metadata: { runtime: "deno", deno_version: Deno.version.deno } });
const result = await client.flush();
console.log(JSON.stringify(result));
if (result.failed > 0) Deno.exit(1);
