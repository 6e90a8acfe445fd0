/**
 * Delivery: the Durable Object that holds each Userpilot environment's backlog and delivers it,
 * as a thin shell over plain classes (the engine, the job-slot driver, the real-time streams) that
 * are given their storage, clock, randomness and `fetch`, so a simulator can run them in Node.
 * The only room that reads or writes the store (`../store/`); every other room goes through the
 * object's methods (`deliveryStub`).
 * @module
 */
export { DeliveryEngine, type DeliveryOverview, type EngineDeps } from "./engine.ts";
export { DeliveryObject } from "./object.ts";
export type { DeliveryStatus } from "./status.ts";
// Every alert type, so /metrics can show each condition as a gauge (0, or 1 while in alerts.active).
export { ALERT_TYPES, type AlertType } from "./alerts.ts";
export { audited } from "./audit.ts";
export { deliveryStub } from "./stub.ts";
export type {
  AuditAction,
  AuditEntry,
  AuditRecord,
  Sample,
  SetAsideKind,
  SetAsideRow,
  SetAsideSelection,
} from "../store/index.ts";
export { minuteOf, SAMPLE_MINUTES } from "../store/index.ts";
