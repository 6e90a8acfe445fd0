/** @jsxImportSource . */
import type { Child, FC } from "./jsx-runtime.ts";
import { age, count, counted, duration, perMinute, rows, When } from "./format.tsx";
import { SetAsideTable } from "./set-aside.tsx";
import { AuditTable } from "./audit.tsx";
import { HistoryChart } from "./chart.tsx";
import type { DeliveryOverview } from "../delivery/index.ts";
import { BUCKET_MINUTES, historyOf } from "./history.ts";
import { ADMIN_PAGE_ROUTES } from "./page-routes.ts";
import { minuteOf } from "../delivery/index.ts";

// Plain CSS, a few hundred bytes: readable at phone width, light and dark, no web fonts.
const STYLE = `:root{color-scheme:light dark;font-family:system-ui,sans-serif;line-height:1.45}
body{margin:0 auto;max-width:60rem;padding:0 1rem 2rem}h1{font-size:1.4rem}
h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #8886}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #8884;vertical-align:top}
.n{text-align:right;font-variant-numeric:tabular-nums}.scroll{overflow-x:auto}pre{white-space:pre-wrap;word-break:break-all}
progress{width:100%;max-width:24rem}figure{margin:1rem 0}svg{width:100%;height:auto}
svg text{font-size:12px;fill:currentColor}.grid{stroke:#8884}.axis{stroke:#888}
.backlog .area{fill:#2563eb66;stroke:#2563eb}.delivered .area{fill:#16a34a66;stroke:#15803d}
.notice{padding:.5rem 1rem;border-left:4px solid #15803d;background:#16a34a22}.problem{border-color:#b91c1c;background:#b91c1c22}
button{font:inherit;padding:.4rem .8rem;margin:.25rem .25rem .25rem 0}
@media (max-width:40rem){dl{grid-template-columns:1fr}dd{margin-bottom:.4rem}svg text{font-size:22px}}`;

/** How often the page's script reloads the overview, in seconds. */
export const REFRESH_SECONDS = 30;

// The page's only script: times in the viewer's locale, and a refresh that never interrupts a
// selection. Without it the page shows UTC and a refresh link.
const SCRIPT =
  `for(const t of document.querySelectorAll("time[data-local]")){t.textContent=new Date(t.dateTime).toLocaleString();t.dataset.localized=""}
const every=Number(document.body.dataset.refresh)*1e3;if(every>0)setInterval(()=>{if(document.hidden||document.querySelector("input:checked,details[open]"))return;const u=new URL(location.href);u.searchParams.delete("done");location.replace(u)},every)`;

/**
 * The page's frame: one inline style and one inline script, both carrying the response's CSP
 * nonce; nothing is loaded from anywhere else.
 *
 * @example
 * ```tsx
 * c.html(<Layout title="Confirm" nonce={nonce} refreshSeconds={0}>…</Layout>)
 * ```
 */
export const Layout: FC<{ title: string; nonce: string; refreshSeconds: number; children?: Child }> = (
  { title, nonce, refreshSeconds, children },
) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{title}</title>
      <style nonce={nonce} dangerouslySetInnerHTML={{ __html: STYLE }} />
    </head>
    <body data-refresh={String(refreshSeconds)}>
      {children}
      <script nonce={nonce} dangerouslySetInnerHTML={{ __html: SCRIPT }} />
    </body>
  </html>
);

/** What each kind of pending work is called, and what it counts. */
const PENDING: Record<string, { label: string; unit: string }> = {
  users: { label: "Users pending", unit: "row" },
  companies: { label: "Companies pending", unit: "row" },
  events: { label: "Events pending", unit: "event" },
  deletions: { label: "Deletes to forward", unit: "id" },
};

const JobInFlight: FC<{ job: DeliveryOverview["status"]["job"] }> = ({ job }) => {
  if (job === null) return <p>No job in flight.</p>;
  const done = job.completedRows;
  return (
    <dl>
      <dt>Kind</dt>
      <dd>{job.kind ?? "unknown"} ({job.lane === "fresh" ? "fresh rows" : "suspects"})</dd>
      <dt>Phase</dt>
      <dd>{job.phase}{job.status === null ? "" : `, Userpilot says ${job.status}`}</dd>
      <dt>Job id</dt>
      <dd>{job.jobId === null ? "not assigned yet" : <code>{job.jobId}</code>}</dd>
      <dt>Submitted</dt>
      <dd>
        <When iso={job.submittedAt} />
      </dd>
      <dt>
        <label for="job-progress">Progress</label>
      </dt>
      <dd>
        {done === null
          ? <progress id="job-progress" max={job.rows} />
          : <progress id="job-progress" max={job.rows} value={done} />}{" "}
        <span data-status="job.completedRows">{done === null ? "no report yet" : count(done)}</span> of{" "}
        <span data-status="job.rows">{rows(job.rows)}</span>
        {done === null ? "" : ` (${Math.floor((done / Math.max(1, job.rows)) * 100)} %)`}
      </dd>
    </dl>
  );
};

/**
 * The operator's page: the backlog and when it will drain, the job in flight, the last error, the
 * last 24 hours, the rows set aside with their actions, and the recent audited actions. `data-status` names the `/v1/status`
 * field a figure shows.
 *
 * @example
 * ```tsx
 * <Dashboard overview={await stub.overview({ limit: 100 })} now={Date.now()} after={0} notice={undefined} canAct />
 * ```
 */
export const Dashboard: FC<{
  overview: DeliveryOverview;
  now: number;
  after: number;
  notice: { text: string; problem?: boolean } | undefined;
  /** A full admin key: the rows set aside come with their actions (a read-only key sees them only). */
  canAct: boolean;
}> = ({ overview, now, after, notice, canAct }) => {
  const { status } = overview;
  const { points, hours } = historyOf(overview.history, minuteOf(now));
  const nowIso = new Date(now).toISOString();
  return (
    <>
      <header>
        <h1>Userpilot ingestion: operator's page</h1>
        <p>
          As of <When iso={nowIso} />. <a href={ADMIN_PAGE_ROUTES.page}>Refresh</a> (with JavaScript, every
          {" "}
          {REFRESH_SECONDS} s unless rows are selected).
        </p>
        {notice === undefined
          ? null
          : <p class={notice.problem ? "notice problem" : "notice"} role="status">{notice.text}</p>}
      </header>
      <main>
        <section aria-labelledby="backlog">
          <h2 id="backlog">Backlog</h2>
          <dl>
            <dt>Alert conditions</dt>
            <dd data-alerts="">{status.alerts.active.join(", ") || "none active"}</dd>
            {Object.entries(status.pending).map(([kind, n]) => (
              <>
                <dt>{PENDING[kind]?.label ?? `${kind} pending`}</dt>
                <dd data-status={`pending.${kind}`}>{counted(n, PENDING[kind]?.unit ?? "row")}</dd>
              </>
            ))}
            <dt>Of those, suspects</dt>
            <dd>
              <span data-status="suspects">{rows(status.suspects)}</span>{" "}
              (from failed or refused jobs, sent in smaller jobs)
            </dd>
            <dt>Oldest pending</dt>
            <dd>
              {status.oldestPendingAt === null ? "none" : (
                <>
                  <When iso={status.oldestPendingAt} /> ({age(status.oldestPendingAt, now)})
                </>
              )}
            </dd>
            <dt>Time to drain</dt>
            <dd>
              {status.estimatedDrainSeconds > 0 ? "about " : ""}
              <time datetime={`PT${status.estimatedDrainSeconds}S`} data-status="estimatedDrainSeconds">
                {duration(status.estimatedDrainSeconds)}
              </time>{" "}
              at Userpilot's rate of{" "}
              <span data-status="rowsPerMinute">{perMinute(status.rowsPerMinute)}</span>
            </dd>
            <dt>Rows received</dt>
            <dd data-status="rowsReceived">{rows(status.rowsReceived)}</dd>
            <dt>Rows delivered</dt>
            <dd data-status="rowsDelivered">{rows(status.rowsDelivered)}</dd>
            <dt>Unchanged</dt>
            <dd>
              <span data-status="rowsUnchanged">{rows(status.rowsUnchanged)}</span>,{" "}
              <span data-status="propertiesUnchanged">{counted(status.propertiesUnchanged, "value")}</span>
            </dd>
            <dt>Jobs completed</dt>
            <dd data-status="jobsCompleted">{counted(status.jobsCompleted, "job")}</dd>
            <dt>Events received</dt>
            <dd data-status="events.received">{counted(status.events.received, "event")}</dd>
            <dt>Time to send the events</dt>
            <dd>
              {status.events.estimatedDrainSeconds > 0 ? "about " : ""}
              <time
                datetime={`PT${status.events.estimatedDrainSeconds}S`}
                data-status="events.estimatedDrainSeconds"
              >
                {duration(status.events.estimatedDrainSeconds)}
              </time>{" "}
              at <span data-status="events.perMinute">{counted(status.events.perMinute, "event")}/min</span>
            </dd>
          </dl>
        </section>
        <section aria-labelledby="job">
          <h2 id="job">Job in flight</h2>
          <JobInFlight job={status.job} />
        </section>
        <section aria-labelledby="errors">
          <h2 id="errors">Last error</h2>
          {status.lastError === null ? <p>None recorded.</p> : (
            <p>
              <When iso={status.lastError.at} /> ({age(status.lastError.at, now)}): {status.lastError.message}
            </p>
          )}
          {([["Events", status.events.lastError], ["Deletes", status.deletions.lastError]] as const).map((
            [stream, error],
          ) =>
            error === null ? null : (
              <p>
                {stream}: <When iso={error.at} /> ({age(error.at, now)}): {error.message}
              </p>
            )
          )}
          {status.backingOffUntil === null ? null : (
            <p>
              Backing off: the next job goes at <When iso={status.backingOffUntil} />.
            </p>
          )}
        </section>
        <section aria-labelledby="history">
          <h2 id="history">Last 24 hours</h2>
          <HistoryChart
            id="backlog"
            points={points}
            pick={(p) => p.backlog}
            title="Backlog (rows)"
            unit={rows}
          />
          <HistoryChart
            id="delivered"
            points={points}
            pick={(p) => p.deliveredPerMinute}
            title={`Rows delivered per minute (${BUCKET_MINUTES}-minute averages; a running job counts as it progresses)`}
            unit={perMinute}
          />
          <details>
            <summary>The same, hour by hour</summary>
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Hour starting</th>
                    <th scope="col" class="n">Backlog at its end</th>
                    <th scope="col" class="n">Rows delivered</th>
                  </tr>
                </thead>
                <tbody>
                  {hours.map((hour) => (
                    <tr>
                      <td>
                        <When iso={new Date(hour.minute * 60_000).toISOString()} />
                      </td>
                      <td class="n">{hour.backlog === null ? "–" : rows(hour.backlog)}</td>
                      <td class="n">{hour.delivered === null ? "–" : rows(hour.delivered)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </details>
        </section>
        <section aria-labelledby="set-aside">
          <h2 id="set-aside">Rows set aside</h2>
          <p>
            <span data-status="setAside.count">{rows(status.setAside.count)}</span>{" "}
            set aside: rows Userpilot refused even alone, or too large to store, kept with their values.{" "}
            {status.setAside.count > 0
              ? <a href={ADMIN_PAGE_ROUTES.download} download>Download all as NDJSON</a>
              : null}
          </p>
          <SetAsideTable overview={overview} now={now} after={after} canAct={canAct} />
        </section>
        <section aria-labelledby="audit">
          <h2 id="audit">Recent actions</h2>
          <p>
            Deletes, redrives, purges and forgets, newest first, with the name of the credential that asked.
          </p>
          <AuditTable entries={overview.audit} now={now} />
        </section>
      </main>
    </>
  );
};
