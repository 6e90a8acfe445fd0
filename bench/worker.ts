/**
 * The Worker for the edge benchmark: the real ingestion Worker, plus `POST /bare`, a bare Hono
 * handler that reads the body and answers 202 in the same isolate, so the two can be loaded side
 * by side under the same `wrangler dev`. Never deployed (see bench/wrangler.bench.toml).
 */
import { Hono } from "hono";
import worker, { type Env, type QueueMessageBody } from "../src/worker/index.ts";

export { DeliveryObject, ReplayGuard } from "../src/worker/index.ts";

const bare = new Hono().post("/bare", async (c) => {
  await c.req.arrayBuffer();
  return c.json({ accepted: 1 }, 202);
});

const benchWorker: {
  fetch: (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;
  queue: (batch: MessageBatch<QueueMessageBody>, env: Env) => Promise<void>;
} = {
  fetch: (request, env, ctx) =>
    new URL(request.url).pathname === "/bare"
      ? bare.fetch(request, env, ctx)
      : worker.fetch(request, env, ctx),
  queue: (batch, env) => worker.queue(batch, env),
};
export default benchWorker;
