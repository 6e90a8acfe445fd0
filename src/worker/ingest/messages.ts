/** An accepted request as Queue messages: stamped, packed, and sent in as few batches as allowed. @module */
import type { BulkKind, Chunk } from "../../core/build-requests.ts";
import type { TrackEvent } from "../../core/event-schema.ts";
import { INGEST_MESSAGE_BYTES } from "../../core/limits.ts";
import { utf8Length } from "../../core/utf8.ts";
import type { QueueMessageBody } from "../queue-message.ts";

/** What an accepted body becomes: the parts to queue, and how many rows, events or ids it holds. */
export interface Accepted {
  readonly accepted: number;
  readonly parts: readonly QueuedPart[];
}

/** What an accepted request brings, before it is stamped: rows and events for the Queue, or deletes. */
export type QueuedPart =
  | { readonly kind: BulkKind; readonly chunks: readonly Chunk[] }
  | { readonly kind: "events"; readonly events: readonly TrackEvent[] }
  | { readonly kind: "deletions"; readonly target: BulkKind; readonly ids: readonly string[] };

/**
 * When requests were accepted, in milliseconds since the epoch, strictly increasing within one
 * isolate. A Worker's clock only moves on I/O, so two requests in a row can read the same time;
 * the fraction keeps them in order. Across isolates, order is by wall clock.
 */
export class AcceptanceClock {
  readonly #clock: () => number;
  #last = 0;

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  /** The next stamp: now, or a thousandth of a millisecond after the last one. */
  next(): number {
    this.#last = Math.max(this.#clock(), this.#last + 0.001);
    return this.#last;
  }
}

const isolateClock = new AcceptanceClock();

/** When a request was accepted: this isolate's next stamp (see {@link AcceptanceClock}). */
export function acceptanceStamp(): number {
  return isolateClock.next();
}

/** Largest body packed into one message, under the Queue's 128 KB message limit. */
export const MESSAGE_BODY_BUDGET: number = INGEST_MESSAGE_BYTES;
/** The Queue takes at most 100 messages and 256 KB in one `sendBatch`. */
const BATCH_MESSAGES = 100;
const BATCH_BYTES = 240_000;

/**
 * The Queue messages of an accepted request (deletes are not queued: they go to the delivery
 * object at once). Events get ids from the request's id and stamp (so a redelivered message is not
 * sent twice), or fresh ones for a request without an id.
 */
export function messagesOf(
  parts: readonly QueuedPart[],
  receivedAt: number,
  requestId: string | undefined,
  newId: () => string = () => crypto.randomUUID(),
): { body: QueueMessageBody; bytes: number }[] {
  const messages: { body: QueueMessageBody; bytes: number }[] = [];
  // An event's id is its request's id with the time that id was first accepted (a retry keeps
  // both, so the object drops the copy; a request id used again after its window is a new request,
  // with a new stamp), or a fresh one.
  const base = requestId === undefined ? newId() : `${requestId}@${receivedAt}`;
  for (const part of parts) {
    if (part.kind === "events") {
      const events = part.events.map((event, i) => ({ eventId: `${base}#${i}`, event }));
      messages.push({
        body: { kind: "events", receivedAt, events },
        bytes: utf8Length(JSON.stringify(events)),
      });
    } else if (part.kind !== "deletions") {
      for (const chunk of part.chunks) {
        messages.push({ body: { kind: part.kind, receivedAt, rows: chunk.rows }, bytes: chunk.bytes });
      }
    }
  }
  return messages;
}

/** Where messages go: the Queue's producer binding (`sendBatch`). */
export interface QueueSender {
  sendBatch(messages: { body: QueueMessageBody; contentType: "json" }[]): Promise<unknown>;
}

/**
 * Send messages in as few `sendBatch` calls as the Queue's batch limits allow. If a later call
 * fails, earlier ones stay sent: the caller answers 503 and the client retries, which the merge
 * (and the events' ids) make harmless.
 */
export async function sendMessages(
  queue: QueueSender,
  messages: readonly { body: QueueMessageBody; bytes: number }[],
): Promise<void> {
  let batch: { body: QueueMessageBody; contentType: "json" }[] = [];
  let bytes = 0;
  for (const message of messages) {
    if (batch.length === BATCH_MESSAGES || (batch.length > 0 && bytes + message.bytes > BATCH_BYTES)) {
      await queue.sendBatch(batch);
      batch = [];
      bytes = 0;
    }
    batch.push({ body: message.body, contentType: "json" });
    bytes += message.bytes;
  }
  if (batch.length > 0) await queue.sendBatch(batch);
}
