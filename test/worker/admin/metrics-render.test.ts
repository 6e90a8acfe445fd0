import { describe, expect, test } from "vitest";
import {
  METRICS_PREFIX,
  OPENMETRICS_CONTENT_TYPE,
  renderFamilies,
  renderMetrics,
} from "../../../src/worker/admin/metrics.ts";
import type { DeliveryStatus } from "../../../src/worker/delivery/index.ts";
import { parseMetrics, valueOf } from "../metrics-text.ts";

const NOW = Date.parse("2026-12-07T12:00:00.000Z");

/** A status with a different number in every counted place. */
const STATUS: DeliveryStatus = {
  pending: { users: 7, companies: 5, events: 4, deletions: 2 },
  suspects: 3,
  pendingByLane: { users: { fresh: 6, suspect: 1 }, companies: { fresh: 3, suspect: 2 } },
  oldestPendingAt: "2026-12-07T11:58:30.500Z",
  job: null,
  lastError: null,
  jobsCompleted: 11,
  jobsFailed: 2,
  backingOffUntil: null,
  setAside: { count: 8, total: 9, recent: [] },
  rowsReceived: 1234,
  rowsDelivered: 1100,
  rowsUnchanged: 17,
  propertiesUnchanged: 40,
  estimatedDrainSeconds: 1,
  rowsPerMinute: 1200,
  events: {
    received: 31,
    sent: 26,
    estimatedDrainSeconds: 1,
    perMinute: 600,
    lastError: null,
    backingOffUntil: null,
  },
  deletions: { sent: 13, lastError: null, backingOffUntil: null },
  userpilotAnswers: { "2xx": 101, "3xx": 0, "4xx": 6, "5xx": 3, networkError: 1 },
  alerts: { active: ["set_aside", "userpilot_unauthorized"] },
};

describe("the metrics renderer", () => {
  test("every sample is a number of the status, under the Prometheus conventions", () => {
    const text = renderMetrics(STATUS, NOW);
    const metrics = parseMetrics(text);
    const expected: [string, Record<string, string>, number][] = [
      ["rows_received_total", {}, 1234],
      ["rows_delivered_total", {}, 1100],
      ["rows_unchanged_total", {}, 17],
      ["properties_unchanged_total", {}, 40],
      ["set_aside_total", {}, 9],
      ["set_aside_entries", {}, 8],
      ["rows_pending", { kind: "users", lane: "fresh" }, 6],
      ["rows_pending", { kind: "users", lane: "suspect" }, 1],
      ["rows_pending", { kind: "companies", lane: "fresh" }, 3],
      ["rows_pending", { kind: "companies", lane: "suspect" }, 2],
      ["oldest_pending_age_seconds", {}, 89.5],
      ["estimated_drain_seconds", {}, 1],
      ["jobs_completed_total", {}, 11],
      ["jobs_failed_total", {}, 2],
      ["events_received_total", {}, 31],
      ["events_pending", {}, 4],
      ["events_sent_total", {}, 26],
      ["deletes_pending", {}, 2],
      ["deletes_sent_total", {}, 13],
      ["userpilot_responses_total", { class: "2xx" }, 101],
      ["userpilot_responses_total", { class: "3xx" }, 0],
      ["userpilot_responses_total", { class: "4xx" }, 6],
      ["userpilot_responses_total", { class: "5xx" }, 3],
      ["userpilot_responses_total", { class: "network_error" }, 1],
      ["alert_conditions_active", { type: "set_aside" }, 1],
      ["alert_conditions_active", { type: "backlog_age" }, 0],
      ["alert_conditions_active", { type: "userpilot_unauthorized" }, 1],
      ["alert_conditions_active", { type: "events_blocked" }, 0],
      ["alert_conditions_active", { type: "deletions_blocked" }, 0],
    ];
    for (const [name, labels, value] of expected) {
      expect(valueOf(metrics, METRICS_PREFIX + name, labels), name).toBe(value);
    }
    // Nothing unaccounted for: every sample the parser read is one of the above.
    expect([...metrics.values()].flatMap((family) => family.samples)).toHaveLength(expected.length);
    for (const [name, family] of metrics) {
      expect(name.startsWith(METRICS_PREFIX), name).toBe(true);
      expect(family.type, name).toBe(name.endsWith("_total") ? "counter" : "gauge");
      expect(family.help, name).not.toBe("");
    }
    expect(text.endsWith("\n# EOF\n")).toBe(true);
    expect(text.match(/^# EOF$/gm)).toHaveLength(1);
  });

  test("a family with a unit says so, and its name ends with it; counters' samples end with _total", () => {
    const lines = renderMetrics(STATUS, NOW).split("\n");
    const units = lines.filter((line) => line.startsWith("# UNIT "));
    expect(units).toEqual([
      `# UNIT ${METRICS_PREFIX}oldest_pending_age_seconds seconds`,
      `# UNIT ${METRICS_PREFIX}estimated_drain_seconds seconds`,
    ]);
    // Each family's lines run from its # TYPE to the next family's (or # EOF).
    const starts = lines.flatMap((line, at) => (line.startsWith("# TYPE ") ? [at] : []));
    expect(starts.length).toBe(18);
    for (const [i, start] of starts.entries()) {
      const [, , family, type] = lines[start]!.split(" ");
      const block = lines.slice(start + 1, starts[i + 1] ?? lines.indexOf("# EOF"));
      const samples = block.filter((line) => !line.startsWith("#"));
      expect(samples.length, family).toBeGreaterThan(0);
      for (const sample of samples) {
        expect(sample.split(/[ {]/)[0], sample).toBe(type === "counter" ? `${family}_total` : family);
      }
    }
    // Nothing waits: the age is 0, not the time since the epoch.
    const idle = parseMetrics(renderMetrics({ ...STATUS, oldestPendingAt: null }, NOW));
    expect(valueOf(idle, `${METRICS_PREFIX}oldest_pending_age_seconds`)).toBe(0);
  });

  test("label values and help text are escaped as OpenMetrics says: backslash, double quote, newline", () => {
    const value = 'say "hi"\\ then\nleave';
    const text = renderFamilies([
      {
        name: "conditions",
        type: "gauge",
        help: "a help\nline with a \\",
        samples: [[{ condition: value }, 1]],
      },
    ]);
    expect(text).toBe(
      [
        `# TYPE ${METRICS_PREFIX}conditions gauge`,
        `# HELP ${METRICS_PREFIX}conditions a help\\nline with a \\\\`,
        `${METRICS_PREFIX}conditions{condition="say \\"hi\\"\\\\ then\\nleave"} 1`,
        "# EOF",
        "",
      ].join("\n"),
    );
    const parsed = parseMetrics(text).get(`${METRICS_PREFIX}conditions`)!;
    expect(parsed.samples).toEqual([{ labels: { condition: value }, value: 1 }]);
    expect(parsed.help).toBe("a help\nline with a \\");
  });

  test("the content type is OpenMetrics 1.0.0 in UTF-8", () => {
    expect(OPENMETRICS_CONTENT_TYPE).toBe("application/openmetrics-text; version=1.0.0; charset=utf-8");
  });
});
