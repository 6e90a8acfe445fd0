import type { RowIssue } from "../../mod.ts";
import { PositionMap } from "../core/position-map.ts";
import { setByUserpilot, setByUserpilotWarning } from "../core/reserved-properties.ts";
import type { KeyTrail, PostgresPosition } from "../postgres/mod.ts";
import type { InputRecord, LocationKind } from "./readers/index.ts";
import type { UnchangedFilter } from "./unchanged-filter.ts";

/** A rejected row's problem, located by line or element index. Never holds the value. */
export interface LocatedIssue {
  readonly at: number;
  /** The row's id (`--from-postgres`): its text, `null` for a NULL id. */
  readonly key?: string | null | undefined;
  readonly path: string;
  readonly message: string;
}

/**
 * A source that reads rows in the order of their id (`--from-postgres`): where a rerun goes on is
 * an id, not a row count, and the source is told it before the first row is read.
 */
export interface KeyedSource {
  /** The ids of the latest rows, by stream index. */
  readonly keys: KeyTrail;
  /** Read from `position` on (before the first row is read). */
  startAt(position: PostgresPosition | undefined): void;
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

  /** A source read in id order (`--from-postgres`), or `undefined` for a file. */
  readonly keyed: KeyedSource | undefined;
  #ended = false;

  /**
   * `unchanged` (`--state`): rows it leaves out never reach the core, nor get an index. `keyed`:
   * the records come in id order, each with its `key`.
   */
  constructor(records: AsyncIterable<InputRecord>, unchanged?: UnchangedFilter, keyed?: KeyedSource) {
    this.#records = records;
    this.#unchanged = unchanged;
    this.keyed = keyed;
  }

  /**
   * Where a rerun goes on once every row before stream index `checkpoint` is settled: an id of
   * a keyed source (`undefined` if not known, or for a file, whose reruns count rows).
   */
  position(checkpoint: number): PostgresPosition | undefined {
    return this.keyed?.keys.positionAt(checkpoint, this.#ended);
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
        for (const issue of record.issues) this.#waiting.push({ at: record.at, key: record.key, ...issue });
      } else {
        if (this.#unchanged !== undefined && !this.#unchanged.keep(record.row, index)) continue;
        if (typeof record.key === "string") this.keyed?.keys.note(index, record.key);
        this.#lines.note(index++, record.at);
        yield record.row;
      }
    }
    this.#ended = true;
  }

  /** The line (or element) of row `index` of the stream. */
  at(index: number): number {
    return this.#lines.at(index);
  }

  /** An issue of row `index` of the stream, by its line (element, row) and, when keyed, its id. */
  located(index: number, issue: RowIssue): LocatedIssue {
    const where = { at: this.at(index), path: issue.path, message: issue.message };
    return this.keyed === undefined ? where : { ...where, key: this.keyed.keys.key(index) };
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
      located.push(this.located(offset + issue.index, issue));
    }
    return located.sort((a, b) => a.at - b.at); // stable: a row's issues keep their order
  }
}

/**
 * User records as they are, with a warning, once per property, for each property Userpilot sets
 * itself (`first_seen_at`, `last_seen_at`): sent as given, never dropped, never silent.
 */
export async function* warnSetByUserpilot(
  records: AsyncIterable<InputRecord>,
  location: LocationKind,
  warn: (message: string) => void,
): AsyncGenerator<InputRecord> {
  const warned = new Set<string>();
  for await (const record of records) {
    if ("row" in record && warned.size < 2) {
      for (const key of setByUserpilot(record.row)) {
        if (warned.has(key)) continue;
        warned.add(key);
        warn(`${location} ${record.at}: ${setByUserpilotWarning(key)}`);
      }
    }
    yield record;
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
