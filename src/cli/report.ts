import { closeSync, openSync, writeSync } from "node:fs";
import { OWNER_ONLY } from "./atomic-write.ts";
import { UsageError } from "./errors.ts";
import type { LocationKind } from "./readers/index.ts";
import type { LocatedIssue } from "./rows.ts";

/**
 * One report line: `{"line":N,"path":"...","message":"..."}` (`element` for JSON arrays); from
 * PostgreSQL `{"id":"...","row":N,...}`, the id first (`null` for a NULL id).
 */
export function reportLine(issue: LocatedIssue, location: LocationKind): string {
  const id = issue.key === undefined ? {} : { id: issue.key };
  return JSON.stringify({ ...id, [location]: issue.at, path: issue.path, message: issue.message });
}

/**
 * The `--report` file: every rejected row's problems as NDJSON, in input order, for fixing the
 * rows and sending them again. Written one window at a time; never holds a value.
 *
 * @example
 * ```ts
 * const report = RejectReport.open("rejected.ndjson", "line");
 * report.write(window.issues);
 * report.close();
 * ```
 */
export class RejectReport {
  readonly #fd: number | undefined;
  readonly #location: LocationKind;

  private constructor(fd: number | undefined, location: LocationKind) {
    this.#fd = fd;
    this.#location = location;
  }

  /** Create (owner-only) or empty the report at `path`; with no path, writes go nowhere. */
  static open(path: string | undefined, location: LocationKind): RejectReport {
    if (path === undefined) return new RejectReport(undefined, location);
    try {
      return new RejectReport(openSync(path, "w", OWNER_ONLY), location);
    } catch (error) {
      throw new UsageError(
        `cannot write --report ${path}: ${(error as { code?: unknown }).code ?? "write error"}`,
      );
    }
  }

  /** Append issues, one line each. */
  write(issues: readonly LocatedIssue[]): void {
    if (this.#fd === undefined || issues.length === 0) return;
    writeSync(this.#fd, issues.map((issue) => `${reportLine(issue, this.#location)}\n`).join(""));
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
  }
}
