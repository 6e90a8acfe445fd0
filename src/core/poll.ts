import type { Job } from "./schemas.ts";

/** How often a running job is polled by default. */
export const DEFAULT_POLL_INTERVAL_MS: number = 5_000;

/** How far a job had got at one poll, and when that poll was made. */
export interface PollProgress {
  readonly completedRows: number;
  readonly at: number;
}

/** A job's `completed_rows`, when Userpilot reports it with `total_rows` (both are optional). */
export function pollProgress(job: Job, at: number): PollProgress | undefined {
  const completed = job["completed_rows"];
  const total = job["total_rows"];
  const known = typeof completed === "number" && typeof total === "number" && Number.isFinite(completed) &&
    Number.isFinite(total);
  return known ? { completedRows: completed, at } : undefined;
}

/**
 * How long to wait before polling a running job again: the poll interval, or less when the rows
 * the job processed since the previous poll say it will finish sooner, so its end is noticed at
 * once instead of up to an interval late. The shortened wait aims just past the projected end and
 * is never under a tenth of the interval, so a job that slows down costs a few polls at most.
 */
export function nextPollDelay(
  intervalMs: number,
  job: Job,
  now: number,
  previous: PollProgress | undefined,
): number {
  const current = pollProgress(job, now);
  if (current === undefined || previous === undefined) return intervalMs;
  const total = job["total_rows"] as number; // a finite number: pollProgress checked
  const done = current.completedRows - previous.completedRows;
  const elapsed = now - previous.at;
  if (done <= 0 || elapsed <= 0) return intervalMs;
  const remainingRows = total - current.completedRows;
  const remainingMs = (remainingRows * elapsed) / done;
  // Nothing left to count (or numbers that make no sense): the job ends on Userpilot's own time.
  if (!(remainingRows > 0) || !Number.isFinite(remainingMs)) return intervalMs;
  return Math.min(intervalMs, Math.max(intervalMs / 10, Math.ceil(remainingMs * 1.02)));
}
