import type { Env } from "./env.ts";
import { log } from "./log.ts";
import type { QueueMessageBody } from "./messages.ts";
import { deliveryStub } from "./settings.ts";

/**
 * The Queue consumer: hands each batch to the environment's Durable Object, which merges it into
 * SQLite. It needs no secret, so a settings mistake cannot make it drop rows. If the hand-over
 * fails the whole batch is retried by the Queue (the merge is idempotent), and after `max_retries`
 * the Queue moves it to the dead-letter queue, whose consumer (this same function, for a queue
 * named `*-dlq`) records the rows as dead letters.
 */
export async function consumeBatch(batch: MessageBatch<QueueMessageBody>, env: Env): Promise<void> {
  const stub = deliveryStub(env);
  const bodies = batch.messages.map((message) => message.body);
  const attempts = Math.max(...batch.messages.map((message) => message.attempts));
  try {
    if (batch.queue.endsWith("-dlq")) {
      await stub.deadLetterMessages(bodies, attempts);
      log("warn", "dead_lettered_messages", { messages: bodies.length });
    } else {
      const rows = await stub.enqueue(bodies);
      log("info", "batch_merged", { messages: bodies.length, rows });
    }
    batch.ackAll();
  } catch (error) {
    log("error", "consumer_failed", { message: (error as Error).message, attempts });
    batch.retryAll({ delaySeconds: Math.min(60, 2 ** attempts) });
  }
}
