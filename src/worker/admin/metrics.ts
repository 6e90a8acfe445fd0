/**
 * `GET /metrics`: the delivery object's status as OpenMetrics text, for Prometheus and what
 * scrapes like it (Grafana Agent, Datadog's OpenMetrics check). Written here rather than with a
 * metrics library: the Worker is near its size budget, and the text format is small.
 * @module
 */
import { ALERT_TYPES, type DeliveryStatus } from "../delivery/index.ts";

/** What `GET /metrics` answers with. */
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/** Every metric's name starts with it. */
export const METRICS_PREFIX = "userpilot_ingest_";

type Labels = Readonly<Record<string, string>>;

/**
 * One metric family: a name without the prefix (and, for a counter, without `_total`), and its
 * samples. A name ending in `_seconds` is in seconds (its `# UNIT` line says so).
 */
export interface MetricFamily {
  readonly name: string;
  readonly type: "counter" | "gauge";
  readonly help: string;
  readonly samples: readonly (readonly [Labels, number])[];
}

const family = (type: MetricFamily["type"]) =>
(
  name: string,
  help: string,
  samples: number | readonly (readonly [Labels, number])[],
): MetricFamily => ({ name, type, help, samples: typeof samples === "number" ? [[{}, samples]] : samples });
const counter = family("counter");
const gauge = family("gauge");

/** The families `GET /metrics` shows, from one status read at `now` (ms): add a metric here. */
function families(status: DeliveryStatus, now: number): MetricFamily[] {
  const { pendingByLane: lanes, userpilotAnswers: answers } = status;
  const oldest = status.oldestPendingAt === null ? now : Date.parse(status.oldestPendingAt);
  return [
    counter("rows_received", "Rows accepted, before merging by id", status.rowsReceived),
    counter("rows_delivered", "Rows in completed jobs", status.rowsDelivered),
    counter("rows_unchanged", "Rows left out: Userpilot had every value", status.rowsUnchanged),
    counter(
      "properties_unchanged",
      "Properties left out: Userpilot had the value",
      status.propertiesUnchanged,
    ),
    counter("set_aside", "Entries ever set aside", status.setAside.total),
    gauge("set_aside_entries", "Entries set aside now", status.setAside.count),
    gauge("rows_pending", "Rows waiting for a job", [
      [{ kind: "users", lane: "fresh" }, lanes.users.fresh],
      [{ kind: "users", lane: "suspect" }, lanes.users.suspect],
      [{ kind: "companies", lane: "fresh" }, lanes.companies.fresh],
      [{ kind: "companies", lane: "suspect" }, lanes.companies.suspect],
    ]),
    gauge("oldest_pending_age_seconds", "Age of the oldest pending row", Math.max(0, (now - oldest) / 1000)),
    gauge("estimated_drain_seconds", "Time to send the pending rows", status.estimatedDrainSeconds),
    counter("jobs_completed", "Bulk jobs completed", status.jobsCompleted),
    counter("jobs_failed", "Bulk jobs ended without completing", status.jobsFailed),
    counter("events_received", "Events accepted", status.events.received),
    gauge("events_pending", "Events waiting", status.pending.events),
    counter("events_sent", "Events sent", status.events.sent),
    gauge("deletes_pending", "Deletes waiting", status.pending.deletions),
    counter("deletes_sent", "Deletes sent", status.deletions.sent),
    counter("userpilot_responses", "Userpilot's answers by status class", [
      [{ class: "2xx" }, answers["2xx"]],
      [{ class: "3xx" }, answers["3xx"]],
      [{ class: "4xx" }, answers["4xx"]],
      [{ class: "5xx" }, answers["5xx"]],
      [{ class: "network_error" }, answers.networkError],
    ]),
    gauge(
      "alert_conditions_active",
      "Alert conditions raised and not yet cleared, by type (1: active)",
      ALERT_TYPES.map((type) => [{ type }, status.alerts.active.includes(type) ? 1 : 0]),
    ),
  ];
}

/** A label value or a HELP text as OpenMetrics writes it: backslash, double quote and newline escaped. */
const escaped = (text: string): string => text.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));

const labelText = (labels: Labels): string => {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escaped(value)}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
};

/**
 * The OpenMetrics text exposition of `status`, as read at `now` (ms since the epoch): a
 * `# TYPE`, `# UNIT` (when there is one) and `# HELP` line per family, counters' samples named
 * `_total`, and `# EOF` at the end.
 *
 * @example
 * ```ts
 * return c.body(renderMetrics(await stub.status(), Date.now()), 200, {
 *   "Content-Type": OPENMETRICS_CONTENT_TYPE,
 * });
 * ```
 */
export function renderMetrics(status: DeliveryStatus, now: number): string {
  return renderFamilies(families(status, now));
}

/** The text of some families (exported for the tests of the format). */
export function renderFamilies(list: readonly MetricFamily[]): string {
  let text = "";
  for (const { name, type, help, samples } of list) {
    const family = METRICS_PREFIX + name;
    text += `# TYPE ${family} ${type}\n`;
    if (name.endsWith("_seconds")) text += `# UNIT ${family} seconds\n`;
    text += `# HELP ${family} ${escaped(help)}\n`;
    const sample = type === "counter" ? `${family}_total` : family;
    for (const [labels, value] of samples) text += `${sample}${labelText(labels)} ${value}\n`;
  }
  return `${text}# EOF\n`;
}
