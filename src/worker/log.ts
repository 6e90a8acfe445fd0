/** Structured log lines, for Workers Logs. @module */

/** Writes one structured log line. Callers pass ids and counts, never keys, secrets or row values. */
export type Log = (level: "info" | "warn" | "error", event: string, fields?: Record<string, unknown>) => void;

/** One structured log line, as JSON on the console. */
export const log: Log = (level, event, fields = {}) => {
  const line = JSON.stringify({ level, event, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
};
