import * as v from "valibot";
import type { BulkKind } from "../core/build-requests.ts";
import { DeleteIdsSchema, TrackEventSchema } from "../core/event-schema.ts";
import { utf8Length } from "../core/utf8.ts";
import { type Ingested, ingestRows, invalid, MAX_ANSWERED_ISSUES, type RequestIssue } from "./ingest.ts";
import { MESSAGE_BODY_BUDGET } from "./messages.ts";

/** valibot's issues as the answer lists them: path and message, never the value; bounded. */
function issuesOf(issues: readonly v.BaseIssue<unknown>[]): RequestIssue[] {
  return issues.slice(0, MAX_ANSWERED_ISSUES).map((issue) => ({
    path: v.getDotPath(issue) ?? "",
    message: issue.message,
  }));
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** Userpilot's `POST /v1/companies/identify` body, `{ company_id, metadata? }`: one company row. */
export function ingestCompanyIdentify(body: unknown): Ingested {
  if (!isObject(body)) {
    return invalid([{ path: "", message: 'body must be an object like {"company_id": "…"}' }]);
  }
  return ingestRows("companies", [body]);
}

/**
 * Userpilot's `POST /v1/track` body, `{ user_id, event_name, metadata? }`: one event, queued in
 * order and sent to Userpilot's track as it is (events are not merged).
 */
export function ingestTrack(body: unknown): Ingested {
  const result = v.safeParse(TrackEventSchema, body);
  if (!result.success) return invalid(issuesOf(result.issues), result.issues.length);
  const bytes = utf8Length(JSON.stringify(result.output));
  if (bytes > MESSAGE_BODY_BUDGET) {
    return invalid([{
      path: "metadata",
      message: `the event is ${bytes} bytes as JSON, over ${MESSAGE_BODY_BUDGET}`,
    }]);
  }
  return { ok: true, accepted: 1, parts: [{ kind: "events", events: [result.output] }] };
}

/**
 * Userpilot's `DELETE /v1/users {"users": [ids]}` and `DELETE /v1/companies {"companies": [ids]}`:
 * ids to forget (at most 10,000 per request).
 */
export function ingestDelete(target: BulkKind, body: unknown): Ingested {
  if (!isObject(body) || !(target in body)) {
    return invalid([{ path: "", message: `body must be an object like {"${target}": ["<id>", ...]}` }]);
  }
  const unknown = Object.keys(body).filter((key) => key !== target);
  if (unknown.length > 0) {
    return invalid(
      unknown.slice(0, MAX_ANSWERED_ISSUES).map((key) => ({
        path: key.slice(0, 64),
        message: "is not a known field",
      })),
      unknown.length,
    );
  }
  const result = v.safeParse(DeleteIdsSchema, body[target]);
  if (!result.success) {
    return invalid(
      issuesOf(result.issues).map((issue) => ({
        ...issue,
        path: issue.path ? `${target}.${issue.path}` : target,
      })),
      result.issues.length,
    );
  }
  const ids = [...new Set(result.output)];
  return { ok: true, accepted: ids.length, parts: [{ kind: "deletions", target, ids }] };
}
