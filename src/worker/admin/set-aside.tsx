/** @jsxImportSource . */
import type { FC } from "./jsx-runtime.ts";
import { age, count, rows, When } from "./format.tsx";
import type { DeliveryOverview, SetAsideKind } from "../delivery/index.ts";
import { ADMIN_PAGE_ROUTES } from "./page-routes.ts";

/** What an entry set aside is, as the table names it before its id. */
const KIND_LABELS: Record<SetAsideKind, string> = {
  users: "user",
  companies: "company",
  events: "event of user",
  deletions: "delete of",
};
/**
 * The rows set aside, a page at a time, in a form: tick some, or take all, then redrive or purge
 * (each asks first). Works without JavaScript. With a read-only key (`canAct` false) the rows are
 * listed without the form.
 *
 * @example
 * ```tsx
 * <SetAsideTable overview={overview} now={Date.now()} after={0} canAct />
 * ```
 */
export const SetAsideTable: FC<{ overview: DeliveryOverview; now: number; after: number; canAct: boolean }> =
  (
    { overview, now, after, canAct },
  ) => {
    const { count: total } = overview.status.setAside;
    const page = overview.setAside;
    if (total === 0) return <p>No rows are set aside.</p>;
    const list = (
      <>
        <div class="scroll">
          <table>
            <caption>
              {page.rows.length < total
                ? `${count(page.rows.length)} of ${rows(total)}, oldest first`
                : "Oldest first"}
            </caption>
            <thead>
              <tr>
                {canAct ? <th scope="col">Select</th> : null}
                <th scope="col" class="n">#</th>
                <th scope="col">Id</th>
                <th scope="col">Reason</th>
                <th scope="col" class="n">Failures alone</th>
                <th scope="col">Set aside</th>
              </tr>
            </thead>
            <tbody>
              {page.rows.map((row) => (
                <tr>
                  {canAct
                    ? (
                      <td>
                        <input
                          type="checkbox"
                          name="seq"
                          value={String(row.seq)}
                          id={`seq-${row.seq}`}
                          aria-label={`Select ${KIND_LABELS[row.kind]} ${row.id}`}
                        />
                      </td>
                    )
                    : null}
                  <td class="n">{row.seq}</td>
                  <td>
                    <label for={`seq-${row.seq}`}>
                      {KIND_LABELS[row.kind]} <code>{row.id}</code>
                    </label>
                    <details>
                      <summary>values</summary>
                      <pre>{truncate(JSON.stringify(row.row, null, 1), 2_000)}</pre>
                    </details>
                  </td>
                  <td>{row.reason}</td>
                  <td class="n">{row.attempts}</td>
                  <td>
                    <When iso={row.setAsideAt} /> ({age(row.setAsideAt, now)})
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {page.next === null ? null : (
          <p>
            <a href={`${ADMIN_PAGE_ROUTES.page}?after=${page.next}`}>Next rows</a>
          </p>
        )}
        {after > 0
          ? (
            <p>
              <a href={ADMIN_PAGE_ROUTES.page}>First rows</a>
            </p>
          )
          : null}
      </>
    );
    if (!canAct) {
      return (
        <>
          {list}
          <p>This admin key is read-only: a full key redrives or purges them.</p>
        </>
      );
    }
    return (
      <form method="post" action={ADMIN_PAGE_ROUTES.action}>
        {list}
        <p>
          <button type="submit" name="do" value="redrive-selected">Redrive selected</button>
          <button type="submit" name="do" value="purge-selected">Purge selected</button>
        </p>
        <p>
          <button type="submit" name="do" value="redrive-all">Redrive all ({rows(total)})</button>
          <button type="submit" name="do" value="purge-all">Purge all ({rows(total)})</button>
        </p>
        <p>
          Each asks for confirmation first. Redriven rows go back into the backlog with their original
          acceptance times (a newer value is never undone), each sent alone. Purged rows are deleted for good.
        </p>
      </form>
    );
  };

const truncate = (text: string, max: number) =>
  text.length <= max ? text : `${text.slice(0, max)}… (download for all of it)`;

/**
 * The confirmation step: the same form again, with `confirm=yes`. Works without JavaScript.
 *
 * @example
 * ```tsx
 * <Confirm action="redrive" seqs={[3, 4]} total={10} />
 * ```
 */
export const Confirm: FC<{ action: "redrive" | "purge"; seqs: readonly number[] | "all"; total: number }> = (
  { action, seqs, total },
) => {
  const what = seqs === "all" ? `all ${rows(total)} set aside` : `${rows(seqs.length)} set aside`;
  const verb = action === "redrive" ? "Redrive" : "Purge";
  return (
    <main>
      <h1>{verb} {what}?</h1>
      {seqs === "all" ? null : (
        <p>
          Rows {seqs.slice(0, 50).map((seq) => `#${seq}`).join(", ")}
          {seqs.length > 50 ? ` and ${count(seqs.length - 50)} more` : ""}.
        </p>
      )}
      <p>
        {action === "redrive"
          ? "They go back into the backlog, each sent alone; one Userpilot refuses again is set aside again."
          : "They are deleted for good: Userpilot never gets them."}
      </p>
      <form method="post" action={ADMIN_PAGE_ROUTES.action}>
        <input type="hidden" name="do" value={`${action}-${seqs === "all" ? "all" : "selected"}`} />
        {seqs === "all"
          ? null
          : seqs.map((seq) => <input key={seq} type="hidden" name="seq" value={String(seq)} />)}
        <input type="hidden" name="confirm" value="yes" />
        <button type="submit">Yes, {verb.toLowerCase()} {what}</button>{" "}
        <a href={ADMIN_PAGE_ROUTES.page}>Cancel</a>
      </form>
    </main>
  );
};
