/**
 * The delivery object's SQLite: the schema and its migrations, the backlog of rows merged by id,
 * the job in flight, rows set aside, events, deletions, fingerprints, samples, counters, the
 * audit log and alert state.
 * Private to `delivery/`, which is the only room that imports it: every other room reaches the
 * store through the Durable Object's methods.
 * @module
 */
export type { OutboxEntry, RaisedAlert } from "./alerts.ts";
export type { AuditAction, AuditEntry, AuditRecord } from "./audit.ts";
export { type BacklogCounts, type Candidate } from "./lanes.ts";
export { DeliveryStore } from "./delivery-store.ts";
export type { DeletionBatch } from "./deletions.ts";
export { unchangedFields, withoutFields } from "./delta.ts";
export type { QueuedEvent } from "./events.ts";
export { ID_FIELD } from "./field-names.ts";
export type { StoredSlot } from "./job-in-flight.ts";
export type { Sent } from "./row-fields.ts";
export { minuteOf, type Observation, type Sample, SAMPLE_MINUTES } from "./samples.ts";
export type { DeletionEntry, SetAsideKind, SetAsideRow, SetAsideSelection } from "./set-aside.ts";
