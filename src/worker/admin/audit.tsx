/** @jsxImportSource . */
import type { FC } from "./jsx-runtime.ts";
import type { AuditEntry } from "../delivery/index.ts";
import { age, count, rows, When } from "./format.tsx";

const DONE: Record<AuditEntry["action"], (n: number) => string> = {
  delete: (n) => `${count(n)} ${n === 1 ? "id" : "ids"} deleted`,
  redrive: (n) => `${rows(n)} put back into the backlog, each to be sent alone`,
  purge: (n) => `${rows(n)} purged for good`,
  forget: (n) => `fingerprints of ${count(n)} ${n === 1 ? "profile" : "profiles"} forgotten`,
};

/** What an audited action did, in words: `3 rows purged for good (of 5 selected)`. */
export function auditText(entry: AuditEntry): string {
  const of = entry.named === null
    ? " (all)"
    : entry.named === entry.taken
    ? ""
    : ` (of ${count(entry.named)} named)`;
  return `${DONE[entry.action](entry.taken)}${of}`;
}

/**
 * The latest deletes, redrives, purges and forgets: when, by which credential (its name), on
 * which route, and what they did, newest first.
 *
 * @example
 * ```tsx
 * <AuditTable entries={overview.audit} now={Date.now()} />
 * ```
 */
export const AuditTable: FC<{ entries: readonly AuditEntry[]; now: number }> = ({ entries, now }) =>
  entries.length === 0 ? <p>No deletes, redrives, purges or forgets yet.</p> : (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Credential</th>
            <th scope="col">Route</th>
            <th scope="col">Done</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr data-audit={entry.action}>
              <td>
                <When iso={entry.at} /> ({age(entry.at, now)})
              </td>
              <td>
                <code>{entry.credential}</code>
              </td>
              <td>
                <code>{entry.route}</code>
              </td>
              <td>{auditText(entry)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
