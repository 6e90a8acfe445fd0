import type { BulkKind, Chunk } from "../core/build-requests.ts";
import type { Company, User } from "../core/schemas.ts";

/** One Queue message: validated, merged rows of one kind, stamped with when they were accepted. */
export interface QueueMessageBody {
  readonly kind: BulkKind;
  /**
   * When the rows were accepted, in milliseconds since the epoch (for a request with an id, when
   * that id was first accepted, so a retry keeps it); orders updates of one field when messages
   * arrive out of order.
   */
  readonly receivedAt: number;
  readonly rows: (User | Company)[];
}

let lastStamp = 0;

/**
 * When a request was accepted, in milliseconds since the epoch, strictly increasing within this
 * isolate. A Worker's clock only moves on I/O, so two requests in a row can read the same
 * `Date.now()`; the fraction keeps them in order. Across isolates, order is by wall clock.
 */
export function acceptanceStamp(): number {
  lastStamp = Math.max(Date.now(), lastStamp + 0.001);
  return lastStamp;
}

/** Largest chunk body packed into one message, under the Queue's 128 KB message limit. */
export const MESSAGE_BODY_BUDGET = 120_000;
/** The Queue takes at most 100 messages and 256 KB in one `sendBatch`. */
const BATCH_MESSAGES = 100;
const BATCH_BYTES = 240_000;

/**
 * Send chunks (already cut to `MESSAGE_BODY_BUDGET`) as Queue messages, in as few `sendBatch`
 * calls as the Queue's batch limits allow. If a later call fails, earlier ones stay sent: the
 * caller answers 503 and the client retries, which the merge makes harmless.
 */
export async function sendChunks(
  queue: Queue<QueueMessageBody>,
  kind: BulkKind,
  chunks: readonly Chunk[],
  receivedAt: number,
): Promise<void> {
  let batch: MessageSendRequest<QueueMessageBody>[] = [];
  let bytes = 0;
  for (const chunk of chunks) {
    if (batch.length === BATCH_MESSAGES || (batch.length > 0 && bytes + chunk.bytes > BATCH_BYTES)) {
      await queue.sendBatch(batch);
      batch = [];
      bytes = 0;
    }
    batch.push({ body: { kind, receivedAt, rows: chunk.rows }, contentType: "json" });
    bytes += chunk.bytes;
  }
  if (batch.length > 0) await queue.sendBatch(batch);
}
