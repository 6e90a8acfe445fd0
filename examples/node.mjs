// A Node script using the package (plain JavaScript, no build step). Not yet on npm: install the
// tarball `npm pack` makes in a clone:
//   npm install /path/to/userpilot-bulk-0.1.0.tgz
//   USERPILOT_INGEST_URL=… USERPILOT_INGEST_SIGNING_SECRET=… node node.mjs   (default: npm start's dev stack)
import { createIngestClient } from "userpilot-bulk";

const client = createIngestClient.fromEnv(
  {
    USERPILOT_INGEST_URL: "http://127.0.0.1:8787",
    USERPILOT_INGEST_SIGNING_SECRET: "whsec_ZGV2LXNpZ25pbmctc2VjcmV0LWZvci1sb2NhbC11c2U=", // npm start's dev secret
    ...process.env,
  },
  { onError: (error) => console.error(`userpilot: ${error.message}`) },
);
client.identify({ user_id: "node_user", metadata: { runtime: "node", node_version: process.version } });
const result = await client.close(); // sends what waits, at most 25 s
console.log(JSON.stringify(result));
if (result.failed > 0) process.exit(1);
