/**
 * What the Queue carries from the accept path (`ingest/`) to the delivery object (`delivery/`):
 * the one contract the two rooms share, so it sits between them.
 * @module
 */
import type { BulkKind } from "../core/build-requests.ts";
import type { TrackEvent } from "../core/event-schema.ts";
import type { Company, User } from "../core/schemas.ts";

/** An event accepted by the gateway, with the id that makes a redelivered Queue message harmless. */
export interface AcceptedEvent {
  readonly eventId: string;
  readonly event: TrackEvent;
}

/**
 * One Queue message, stamped with when its request was accepted (for a request with an id, when
 * that id was first accepted, so a retry keeps it): validated, merged rows of one kind, or events
 * for Userpilot's track. The stamp orders updates of one field when messages arrive out of order,
 * and tells a deletion which values came before it.
 */
export type QueueMessageBody =
  | { readonly kind: BulkKind; readonly receivedAt: number; readonly rows: (User | Company)[] }
  | { readonly kind: "events"; readonly receivedAt: number; readonly events: AcceptedEvent[] };
