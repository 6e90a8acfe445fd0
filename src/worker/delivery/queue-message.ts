/** What the Queue carries from the accept path to the delivery object. @module */
import type { BulkKind } from "../../core/build-requests.ts";
import type { Company, User } from "../../core/schemas.ts";
import type { AcceptedEvent } from "../store/index.ts";

/**
 * One Queue message, stamped with when its request was accepted (for a request with an id, when
 * that id was first accepted, so a retry keeps it): validated, merged rows of one kind, or events
 * for Userpilot's track. The stamp orders updates of one field when messages arrive out of order,
 * and tells a deletion which values came before it.
 */
export type QueueMessageBody =
  | { readonly kind: BulkKind; readonly receivedAt: number; readonly rows: (User | Company)[] }
  | { readonly kind: "events"; readonly receivedAt: number; readonly events: AcceptedEvent[] };
