/**
 * What each call of the ingest client accepts, checked when it is made (so a bad call is refused
 * at once, never sent): a row by the core's schemas, an event by `TrackEventSchema` and the size
 * the endpoint queues, ids by the id rules. Each returns the validated copy (the caller may reuse
 * or change its object before the send) or throws a `ValidationError` that never quotes a value.
 * @module
 */
import * as v from "valibot";
import { type BulkKind, validateRows } from "./build-requests.ts";
import { ValidationError } from "./errors.ts";
import { type TrackEvent, TrackEventSchema } from "./event-schema.ts";
import { DEFAULT_ROW_LIMITS, INGEST_MESSAGE_BYTES } from "./limits.ts";
import { type Company, createIdSchema, type User } from "./schemas.ts";
import { utf8Length } from "./utf8.ts";
import { toRowIssues } from "./validate-rows.ts";

const IdSchema = createIdSchema("id", DEFAULT_ROW_LIMITS);

/** The call's name, as its messages say it. */
export function callName(kind: BulkKind, call: "identify" | "delete"): string {
  if (call === "identify") return kind === "users" ? "identify" : "identifyCompany";
  return kind === "users" ? "deleteUsers" : "deleteCompanies";
}

/** A user or company row, validated. */
export function checkedRow(kind: BulkKind, row: unknown): User | Company {
  const { valid, rejected } = validateRows([row], { kind });
  if (rejected.length > 0) {
    throw new ValidationError(
      `${callName(kind, "identify")} was given an invalid row; it was not sent`,
      rejected,
    );
  }
  return valid[0]!.row;
}

/** An event, validated, and no larger than the endpoint queues. */
export function checkedEvent(event: unknown): TrackEvent {
  const result = v.safeParse(TrackEventSchema, event);
  if (!result.success) {
    throw new ValidationError(
      "track was given an invalid event; it was not sent",
      toRowIssues(0, result.issues),
    );
  }
  const bytes = utf8Length(JSON.stringify(result.output));
  if (bytes > INGEST_MESSAGE_BYTES) {
    throw new ValidationError("track was given an event too large for the endpoint; it was not sent", [
      { index: 0, path: "", message: `event is ${bytes} bytes as JSON, over ${INGEST_MESSAGE_BYTES}` },
    ]);
  }
  return result.output;
}

/** Ids to delete, each checked by the id rules; one bad id refuses the call. */
export function checkedIds(kind: BulkKind, ids: unknown): string[] {
  const list: unknown[] = Array.isArray(ids) ? ids : [];
  const issues = list.flatMap((id, index) => {
    const result = v.safeParse(IdSchema, id);
    return result.success ? [] : toRowIssues(index, result.issues);
  });
  if (!Array.isArray(ids)) issues.push({ index: 0, path: "", message: "ids must be an array of ids" });
  if (issues.length > 0) {
    throw new ValidationError(`${callName(kind, "delete")} was given invalid ids; none was sent`, issues);
  }
  return [...list as string[]];
}
