import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startListeningServer } from "../support/listening-server.ts";

// The Hono middleware on a long-lived server, on each runtime a user would run one on: Node
// (@hono/node-server), Bun and Deno run `examples/hono-server.ts` as is. 1,000 requests over 100
// users go to the endpoint in a handful of POSTs, and SIGTERM closes the shared client without
// losing a call. (On Workers: test/workerd/hono.test.ts.)

const ROOT = new URL("../..", import.meta.url).pathname;
const KEY = "servers-test-key";

const read = async (request: IncomingMessage): Promise<string> => {
  let text = "";
  for await (const chunk of request) text += chunk;
  return text;
};

type Body = { users: { user_id: string; metadata: { visit: number } }[] };

/** The ingestion endpoint's bulk route as a recorder of every accepted body. */
const accepted: { agent: string | undefined; body: Body }[] = [];
const endpoint = createServer(async (request, response) => {
  const body = JSON.parse(await read(request)) as Body;
  if (request.headers.authorization !== `Bearer ${KEY}`) return void response.writeHead(401).end();
  accepted.push({ agent: request.headers["user-agent"], body });
  response.writeHead(202, { "Content-Type": "application/json" }).end(
    JSON.stringify({ accepted: body.users.length }),
  );
});
let endpointUrl = "";

beforeAll(async () => {
  await new Promise<void>((resolve) => endpoint.listen(0, "127.0.0.1", resolve));
  endpointUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => endpoint.close(resolve)));

const RUNTIMES = {
  node: ["node", ["--import", "tsx", "examples/hono-server.ts"]],
  bun: ["node_modules/.bin/bun", ["examples/hono-server.ts"]],
  deno: ["node_modules/.bin/deno", [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-env",
    "--allow-read",
    "examples/hono-server.ts",
  ]],
} as const;

describe.each(Object.keys(RUNTIMES) as (keyof typeof RUNTIMES)[])(
  "the middleware on a %s server",
  (runtime) => {
    test(
      "1,000 requests over 100 users arrive in a handful of POSTs; SIGTERM closes the client and loses none",
      async () => {
        accepted.length = 0;
        const [command, args] = RUNTIMES[runtime];
        const server = await startListeningServer(command, args, {
          cwd: ROOT,
          env: {
            ...process.env,
            USERPILOT_INGEST_URL: endpointUrl,
            USERPILOT_INGEST_KEY: KEY,
            FLUSH_AT: "300",
            FLUSH_INTERVAL_MS: "600000", // only flushAt and close() send here
          },
        });
        const { port, lines } = server;
        // Ten waves; in each, every one of the 100 users visits once: a user's last visit is 9.
        for (let wave = 0; wave < 10; wave++) {
          await Promise.all(Array.from({ length: 100 }, async (_, user) => {
            const response = await fetch(`http://127.0.0.1:${port}/`, {
              headers: { "X-User": `user_${user}`, "X-Visit": String(wave) },
            });
            expect(await response.text()).toBe("ok");
          }));
        }
        const beforeClose = accepted.length;
        server.kill();
        expect(await server.exited).toBe(0);
        expect(server.stderr()).toBe("");
        console.log(
          `${runtime}: 1,000 requests over 100 users → ${accepted.length} POSTs (${beforeClose} while serving)`,
        );
        // flushAt 300: bodies after 300, 600 and 900 calls, the last 100 calls sent by close().
        expect(beforeClose).toBe(3);
        expect(accepted).toHaveLength(4);
        expect(JSON.parse(lines.at(-1)!)).toEqual({ sent: 400, failed: 0, pending: 0 });
        const profiles = new Map<string, number>();
        for (const { body } of accepted) {
          for (const user of body.users) profiles.set(user.user_id, user.metadata.visit);
        }
        expect(profiles.size).toBe(100);
        expect([...profiles.values()].every((visit) => visit === 9)).toBe(true);
        expect(new Set(accepted.map((post) => post.agent))).toEqual(
          new Set([expect.stringMatching(/^userpilot-bulk\//)]),
        );
      },
      60_000,
    );
  },
);
