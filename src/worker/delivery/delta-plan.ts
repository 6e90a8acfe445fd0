/** Delta delivery's plan: what of a job's candidates Userpilot already has stays out. @module */
import type { BulkKind } from "../../core/build-requests.ts";
import {
  type Candidate,
  type DeliveryStore,
  ID_FIELD,
  type Sent,
  unchangedFields,
  withoutFields,
} from "../store/index.ts";

/**
 * Leave out of a job's candidates the fields Userpilot already has (`unchangedFields`), settling
 * them as delivered, and the rows left with nothing to send; returns the candidates that still
 * go. One transaction. Counted in `meta`: rows left with nothing, and properties left out
 * (metadata keys and companies; a bare identify's id is not one).
 *
 * @example
 * ```ts
 * const candidates = leaveOutUnchanged(store, "users", next.candidates, Date.now(), resendAfterMs);
 * ```
 */
export function leaveOutUnchanged(
  store: DeliveryStore,
  kind: BulkKind,
  candidates: readonly Candidate[],
  now: number,
  resendAfterMs: number,
): Candidate[] {
  return store.transaction(() => {
    const kept: Candidate[] = [];
    let rows = 0;
    let properties = 0;
    for (const candidate of candidates) {
      const { id, row } = candidate;
      const names = Object.keys(candidate.carried);
      const prints = store.fingerprints.get(kind, id);
      const unchanged = unchangedFields(kind, id, row, names, prints, now, resendAfterMs);
      if (unchanged.length === 0) {
        kept.push(candidate);
        continue;
      }
      const settled: Sent = {};
      const carried: Sent = { ...candidate.carried };
      for (const name of unchanged) {
        settled[name] = carried[name]!;
        delete carried[name];
        if (name !== ID_FIELD) properties++;
      }
      store.backlog.settle(kind, id, settled, undefined, now);
      if (unchanged.length < names.length) {
        kept.push({ ...candidate, row: withoutFields(row, unchanged), carried });
      } else {
        rows++;
        if (prints !== undefined) store.fingerprints.put(kind, id, prints, now); // seen again
      }
    }
    store.meta.count("rowsUnchanged", rows);
    store.meta.count("propertiesUnchanged", properties);
    return kept;
  });
}
