import * as v from "valibot";
import { DEFAULT_ROW_LIMITS } from "./limits.ts";
import { createIdSchema, createMetadataSchema, type Metadata } from "./schemas.ts";

/** An event for Userpilot's `POST /v1/track`. */
export interface TrackEvent {
  user_id: string;
  event_name: string;
  metadata?: Metadata | undefined;
}

/**
 * One event as `POST /v1/track` takes it: `user_id` and `event_name` follow the id rules
 * (non-blank, printable, at most 255 characters), `metadata` the identify's rules (flat; string,
 * finite number, boolean, `null`, or a `Date` sent as its ISO string).
 *
 * @example
 * ```ts
 * v.parse(TrackEventSchema, { user_id: "user_123", event_name: "invoice_paid", metadata: { amount: 30 } });
 * ```
 */
export const TrackEventSchema: v.GenericSchema<unknown, TrackEvent> = v.strictObject(
  {
    user_id: createIdSchema("user_id", DEFAULT_ROW_LIMITS),
    event_name: createIdSchema("event_name", DEFAULT_ROW_LIMITS),
    metadata: v.optional(createMetadataSchema()),
  },
  (
    issue,
  ) => (issue.expected === "never"
    ? "is not a known field; put event properties under metadata"
    : "is required"),
);

/** `DELETE /v1/users` or `/v1/companies`: the ids to forget, at most 10,000 at once. */
export const DeleteIdsSchema: v.GenericSchema<unknown, string[]> = v.pipe(
  v.array(createIdSchema("id", DEFAULT_ROW_LIMITS)),
  v.minLength(1, "must list at least one id"),
  v.maxLength(10_000, "must list at most 10,000 ids"),
);
