import { type Sample, SAMPLE_MINUTES } from "../delivery/index.ts";

/** Minutes per point of the chart: 288 points over 24 hours keep the SVG a few KB. */
export const BUCKET_MINUTES = 5;

/** One point of the chart; `null` where nothing was recorded yet. */
export interface HistoryPoint {
  /** The first minute of the point (minutes since the Unix epoch). */
  readonly minute: number;
  /** The largest backlog seen in the point's minutes (rows). */
  readonly backlog: number | null;
  /** Rows delivered per minute, averaged over the point's minutes. */
  readonly deliveredPerMinute: number | null;
}

/** One hour of the table beside the chart. */
export interface HistoryHour {
  readonly minute: number;
  /** The backlog at the end of the hour (rows). */
  readonly backlog: number | null;
  /** Rows delivered in the hour. */
  readonly delivered: number | null;
}

/** The last 24 hours, as the chart and its table show them. */
export interface History {
  readonly points: HistoryPoint[];
  readonly hours: HistoryHour[];
}

/**
 * Turn the samples of the last 24 hours (oldest first, the latest being now) into the chart's
 * points and an hourly table. Between two samples nothing changed (the object records one at its
 * first event of every minute, and one more when it goes idle), so each minute takes the latest
 * sample at or before it; rows delivered in a minute are the rise of the running total (a job
 * that failed after progress makes it fall: that counts as none).
 *
 * @example
 * ```ts
 * const { points, hours } = historyOf(samples, minuteOf(Date.now()));
 * ```
 */
export function historyOf(samples: readonly Sample[], nowMinute: number): History {
  const first = nowMinute - SAMPLE_MINUTES + 1;
  const backlog: (number | null)[] = [];
  const delivered: (number | null)[] = [];
  let index = 0;
  let current: Sample | undefined;
  let previousTotal: number | null = null;
  for (let minute = first - 1; minute <= nowMinute; minute++) {
    while (index < samples.length && samples[index]!.minute <= minute) current = samples[index++];
    const total = current?.delivered ?? null;
    if (minute >= first) {
      backlog.push(current?.pending ?? null);
      delivered.push(total === null || previousTotal === null ? null : Math.max(0, total - previousTotal));
    }
    previousTotal = total;
  }
  const points: HistoryPoint[] = [];
  for (let start = 0; start < SAMPLE_MINUTES; start += BUCKET_MINUTES) {
    const known = (values: (number | null)[]) =>
      values.slice(start, start + BUCKET_MINUTES).filter((value) => value !== null);
    const peaks = known(backlog);
    const rates = known(delivered);
    points.push({
      minute: first + start,
      backlog: peaks.length === 0 ? null : Math.max(...peaks),
      deliveredPerMinute: rates.length === 0 ? null : rates.reduce((a, b) => a + b, 0) / rates.length,
    });
  }
  const hours: HistoryHour[] = [];
  for (let start = 0; start < SAMPLE_MINUTES; start += 60) {
    const rises = delivered.slice(start, start + 60).filter((value) => value !== null);
    hours.push({
      minute: first + start,
      backlog: backlog[start + 59] ?? null,
      delivered: rises.length === 0 ? null : rises.reduce((a, b) => a + b, 0),
    });
  }
  return { points, hours };
}
