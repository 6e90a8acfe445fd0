import type { BulkKind } from "../core/build-requests.ts";
import { unchangedFields, withoutFields } from "./delta.ts";
import type { Candidate, PendingStore } from "./pending-store.ts";
import type { Sent } from "./row-fields.ts";

/** Meta counters of what delta delivery left out. */
export const UNCHANGED_COUNTERS = { rows: "rows_unchanged", properties: "properties_unchanged" } as const;

/** A job's candidates once what Userpilot already has is left out, and how much that was. */
export interface LeftOut {
  readonly candidates: Candidate[];
  /** Rows left with nothing to send: settled as delivered, unchanged. */
  readonly rows: number;
  /** Properties left out (metadata keys and company moves; a bare identify's id is not one). */
  readonly properties: number;
}

/**
 * Leave out of a job's candidates the fields Userpilot already has (`unchangedFields`), settling
 * them as delivered, and the rows left with nothing to send. One transaction; counted in `meta`.
 *
 * @example
 * ```ts
 * const { candidates } = leaveOutUnchanged(store, "users", next.candidates, Date.now(), resendAfterMs);
 * ```
 */
export function leaveOutUnchanged(
  store: PendingStore,
  kind: BulkKind,
  candidates: readonly Candidate[],
  now: number,
  resendAfterMs: number,
): LeftOut {
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
        if (name !== "@") properties++;
      }
      store.settleUnchanged(kind, id, settled, now);
      if (unchanged.length < names.length) {
        kept.push({ ...candidate, row: withoutFields(row, unchanged), carried });
      } else {
        rows++;
        if (prints !== undefined) store.fingerprints.touch(kind, id, now);
      }
    }
    store.count(UNCHANGED_COUNTERS.rows, rows);
    store.count(UNCHANGED_COUNTERS.properties, properties);
    return { candidates: kept, rows, properties };
  });
}
