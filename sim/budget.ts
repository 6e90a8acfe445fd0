/**
 * The seeds `npm test` runs (well under a minute of CPU on the CI machine), and the days each may
 * last. Short scenarios make the traffic dense (rates scale with 1/√days), which is where the
 * planted bugs (sim/bugs.ts) show; months of traffic are for `npm run simulate -- --days 90`.
 * @module
 */

/** The CI seed budget: seeds `from` … `from + count - 1`, each scenario at most `days` long. */
export const CI_SEEDS: { readonly from: number; readonly count: number; readonly days: number } = {
  from: 1,
  count: 12,
  days: 2,
};
