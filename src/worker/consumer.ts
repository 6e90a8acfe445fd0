/** The Queue consumer: Queue messages into the delivery object. @module */
import { describeFailure } from "../core/errors.ts";
import type { Log } from "./log.ts";
import type { QueueMessageBody } from "./queue-message.ts";

/** What the consumer reads of a Queue batch (workerd's `MessageBatch`). */
export interface ConsumedBatch {
  readonly queue: string;
  readonly messages: readonly { readonly body: QueueMessageBody; readonly attempts: number }[];
  ackAll(): void;
  retryAll(options?: { delaySeconds?: number }): void;
}

/** Where a batch is handed over: the delivery object (its stub). */
export interface BatchTarget {
  enqueue(messages: QueueMessageBody[]): Promise<number>;
}

/**
 * The Queue consumer, for the main queue and its dead-letter queue alike: hands each batch to the
 * environment's Durable Object, which merges it into SQLite, and acks it only then. It needs no
 * secret, so a settings mistake cannot make it drop rows. If the hand-over fails the whole batch
 * is retried by the Queue (the merge is idempotent: per field, the latest acceptance time wins),
 * and after `max_retries` the Queue moves it to the dead-letter queue, whose consumer merges it
 * the same way: a batch that reaches it was only late, never wrong.
 *
 * @example
 * ```ts
 * export default { queue: (batch, env) => consumeBatch(batch, deliveryStub(env), log) };
 * ```
 */
export async function consumeBatch(batch: ConsumedBatch, target: BatchTarget, log: Log): Promise<void> {
  const bodies = batch.messages.map((message) => message.body);
  const attempts = Math.max(...batch.messages.map((message) => message.attempts));
  const late = batch.queue.endsWith("-dlq");
  try {
    const rows = await target.enqueue(bodies);
    log(late ? "warn" : "info", late ? "late_batch_merged" : "batch_merged", {
      messages: bodies.length,
      rows,
    });
    batch.ackAll();
  } catch (error) {
    log("error", "consumer_failed", { message: describeFailure(error), attempts, queue: batch.queue });
    batch.retryAll({ delaySeconds: Math.min(60, 2 ** attempts) });
  }
}
