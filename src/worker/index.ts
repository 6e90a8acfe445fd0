/**
 * The Cloudflare Worker: the ingestion app, the Queue consumer, and the Durable Objects.
 * @module
 */
import { createApp } from "./app.ts";
import { consumeBatch } from "./consumer.ts";
import { deliveryStub } from "./delivery/index.ts";
import { log } from "./log.ts";
import type { Env } from "./env.ts";
import type { QueueMessageBody } from "./queue-message.ts";

export { type AppType, createApp } from "./app.ts";
export { DeliveryObject, type DeliveryStatus } from "./delivery/index.ts";
export type { QueueMessageBody } from "./queue-message.ts";
export type { Env } from "./env.ts";
export { ReplayGuard } from "./ingest/index.ts";

const app = createApp();

const worker: {
  fetch: (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;
  queue: (batch: MessageBatch<QueueMessageBody>, env: Env) => Promise<void>;
} = {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  queue: (batch, env) => consumeBatch(batch, deliveryStub(env), log),
};
export default worker;
