/**
 * The row-level half of the delivery policy (`delivery-policy.ts`): which suspects may travel
 * together, and when a row that keeps failing alone is set aside.
 */

/**
 * How many suspects, in lane order, go in the next job: as many as fit under every taken row's
 * own limit (the size of the smallest failed job it was in, halved), and `maxRows`.
 *
 * @example
 * ```ts
 * suspectBatchSize([4, 4, 4, 4, 4, 1], 10_000); // 4
 * ```
 */
export function suspectBatchSize(limits: Iterable<number>, maxRows: number): number {
  let taken = 0;
  let ceiling = maxRows;
  for (const limit of limits) {
    ceiling = Math.min(ceiling, limit);
    if (taken + 1 > ceiling) break;
    taken++;
  }
  return Math.max(taken, 1);
}

/** A row's record of failing alone. */
export interface SoloFailures {
  /** Counted failures. */
  readonly count: number;
  /** `completions` when the last one was counted. */
  readonly epoch: number;
}

/**
 * Weigh one more failure of a row sent alone. It counts only if another job completed since the
 * row's last counted failure (the first always counts): while nothing gets through, Userpilot is
 * the likelier culprit. At `setAsideAfter` counted failures the row is set aside.
 *
 * @example
 * ```ts
 * const { record, setAside } = recordSoloFailure(row.solo, state.completions, config.setAsideAfter);
 * ```
 */
export function recordSoloFailure(
  previous: SoloFailures | null,
  completions: number,
  setAsideAfter: number,
): { record: SoloFailures; setAside: boolean } {
  const record = previous === null
    ? { count: 1, epoch: completions }
    : completions > previous.epoch
    ? { count: previous.count + 1, epoch: completions }
    : previous;
  return { record, setAside: record.count >= setAsideAfter };
}
