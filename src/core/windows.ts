import { type ChunkOptions, type ChunkPlan, createChunkPlanner, planChunks } from "./build-requests.ts";
import { MAX_ROWS_PER_REQUEST } from "./limits.ts";

/** Rows that may stream: an array, any iterable, or an async iterable (a generator, a cursor, a file). */
export type RowSource<Row = unknown> = Iterable<Row> | AsyncIterable<Row>;

/**
 * One window of input, planned: rows `start` to `start + rows - 1` of the stream, validated,
 * merged by id and cut into chunks. Every `index` (a chunk's `indexes`, an issue's `index`) is the
 * row's position in the whole stream.
 */
export interface PlannedWindow extends ChunkPlan {
  /** Position in the stream of the window's first row. */
  readonly start: number;
  /** Input rows in the window, good or bad. */
  readonly rows: number;
}

/**
 * Plan rows a window at a time: read up to `maxRows` rows (10,000 by default), validate and merge
 * them with {@link createChunkPlanner}, and yield the window before reading on. Only one window's
 * validated rows are held, never the input, so any number of rows streams in flat memory. Rows
 * are merged within their window; windows come in order, so a later row still wins. An array is
 * already in memory and is planned whole, as one window (so its repeated ids all merge). If the
 * input throws, the rows read before are yielded as a last window, then the error is thrown.
 *
 * @example
 * ```ts
 * for await (const window of planWindows(readRows(), { kind: "users" })) {
 *   for (const chunk of window.chunks) await send(chunk.body);
 *   for (const issue of window.rejected) console.warn(`row ${issue.index}: ${issue.message}`);
 * }
 * ```
 */
export async function* planWindows(
  rows: RowSource,
  options: ChunkOptions = {},
): AsyncGenerator<PlannedWindow> {
  if (Array.isArray(rows)) {
    yield { start: 0, rows: rows.length, ...planChunks(rows, options) };
    return;
  }
  const planner = createChunkPlanner(options);
  const size = options.maxRows ?? MAX_ROWS_PER_REQUEST;
  let start = 0;
  let count = 0;
  const take = (): PlannedWindow => {
    const window = atStart(planner.plan(), start, count);
    start += count;
    count = 0;
    return window;
  };
  try {
    // `for await` takes plain iterables too (one microtask a row: small beside validating it).
    for await (const row of rows) {
      planner.add(row);
      if (++count === size) yield take();
    }
  } catch (error) {
    // The rows read before the input failed are still a window: plan them, then fail.
    if (count > 0) yield take();
    throw error;
  }
  if (count > 0) yield take();
}

/** The planner counts from 0 in each window: move every index to its place in the stream. */
function atStart(plan: ChunkPlan, start: number, rows: number): PlannedWindow {
  if (start > 0) {
    for (const chunk of plan.chunks) {
      for (let i = 0; i < chunk.indexes.length; i++) chunk.indexes[i]! += start;
    }
    plan.rejected.forEach((issue, i) => (plan.rejected[i] = { ...issue, index: issue.index + start }));
  }
  return { start, rows, ...plan };
}
