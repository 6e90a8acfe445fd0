import type { RowIssue } from "../../mod.ts";
import { PositionMap } from "../core/position-map.ts";
import type { InputRecord } from "./readers/index.ts";
import type { UnchangedFilter } from "./unchanged-filter.ts";

/** A rejected row's problem, located by line or element index. Never holds the value. */
export interface LocatedIssue {
  readonly at: number;
  readonly path: string;
  readonly message: string;
}

/**
 * The input as the core sees it: a stream of rows (what the readers could parse), numbered from
 * 0. Records the readers could not parse never reach the core; their issues wait here until the
 * core reports the window they fall in, so the report stays in input order.
 */
export class RowStream {
  readonly #records: AsyncIterable<InputRecord>;
  readonly #unchanged: UnchangedFilter | undefined;
  readonly #lines = new PositionMap();
  #waiting: LocatedIssue[] = [];
  /** Records read, rows and unreadable ones. */
  recordsRead = 0;
  /** Records the readers could not parse. */
  unreadable = 0;

  /** `unchanged` (`--state`): rows it leaves out never reach the core, nor get an index. */
  constructor(records: AsyncIterable<InputRecord>, unchanged?: UnchangedFilter) {
    this.#records = records;
    this.#unchanged = unchanged;
  }

  /** Rows and properties left out as unchanged since the last completed run (`--state`). */
  get unchanged(): { rows: number; properties: number } {
    return { rows: this.#unchanged?.rows ?? 0, properties: this.#unchanged?.properties ?? 0 };
  }

  /**
   * `--resume`: the first `count` rows of the stream were settled by an earlier run; `--state`
   * must not record them as delivered (rows Userpilot set aside then are not known here).
   */
  settledEarlier(count: number): void {
    if (this.#unchanged !== undefined) this.#unchanged.settledBefore = count;
  }

  /** Row `index` was not delivered (rejected or set aside): `--state` must not count it as sent. */
  undelivered(index: number): void {
    this.#unchanged?.undelivered(index);
  }

  /** The rows, in order. */
  async *rows(): AsyncGenerator<unknown> {
    let index = 0;
    for await (const record of this.#records) {
      this.recordsRead++;
      if ("issues" in record) {
        this.unreadable++;
        for (const issue of record.issues) this.#waiting.push({ at: record.at, ...issue });
      } else {
        if (this.#unchanged !== undefined && !this.#unchanged.keep(record.row, index)) continue;
        this.#lines.note(index++, record.at);
        yield record.row;
      }
    }
  }

  /** The line (or element) of row `index` of the stream. */
  at(index: number): number {
    return this.#lines.at(index);
  }

  /**
   * The core's issues for rows read so far (their `index` counted from `offset`), located, with
   * the readers' own issues of the records read so far: every one, in input order.
   */
  issues(issues: readonly RowIssue[], offset = 0): LocatedIssue[] {
    const located = this.#waiting;
    this.#waiting = [];
    for (const issue of issues) {
      this.undelivered(offset + issue.index);
      located.push({ at: this.at(offset + issue.index), path: issue.path, message: issue.message });
    }
    return located.sort((a, b) => a.at - b.at); // stable: a row's issues keep their order
  }
}

/** The first `count` values of `iterator`, leaving it open for the rest. */
export async function* take<T>(iterator: AsyncIterator<T>, count: number): AsyncGenerator<T> {
  for (let i = 0; i < count; i++) {
    const next = await iterator.next();
    if (next.done) return;
    yield next.value;
  }
}

/** What is left of `iterator`. */
export async function* rest<T>(iterator: AsyncIterator<T>): AsyncGenerator<T> {
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
}
