/** Auditing an action, from the request that did it. @module */
import { log } from "../log.ts";
import type { AuditEntry, AuditRecord } from "../store/index.ts";
import { deliveryStub } from "./stub.ts";

/**
 * Record a delete, redrive, purge or forget that was just done: in the delivery object's audit
 * log (the operator's page shows the latest) and as an `audit` log line. Both carry the
 * credential's name, never a key or a row value. Throws if the object cannot record it, so the
 * request fails and its retry records it.
 *
 * @example
 * ```ts
 * await audited(c.env, { credential: "backend", action: "delete", route: "DELETE /v1/users", named: 3, taken: 3 });
 * ```
 */
export async function audited(
  env: Parameters<typeof deliveryStub>[0],
  record: AuditRecord,
): Promise<AuditEntry> {
  const entry = await deliveryStub(env).recordAudit(record);
  log("warn", "audit", { ...entry });
  return entry;
}
