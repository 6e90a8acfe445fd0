/**
 * Shared by every benchmark: side-by-side timing, medians, the runtime's name, and the one
 * machine-readable line each benchmark prints for `bench/run.ts`. Runtime-neutral (Node, Deno,
 * Bun): only web globals.
 */

/** One figure of a benchmark. */
export interface Figure {
  readonly label: string;
  readonly value: number | string;
  readonly unit?: string;
}

/** What a benchmark reports: its figures, and whether its target was met (null: not measured). */
export interface BenchResult {
  readonly id: string;
  readonly name: string;
  readonly figures: Figure[];
  readonly target: string;
  readonly met: boolean | null;
  readonly notes?: string[];
}

/** The prefix of the line `bench/run.ts` reads. */
export const RESULT_PREFIX = "BENCH_RESULT ";

/** Print a result for people, then as one JSON line for `bench/run.ts`. */
export function emit(result: BenchResult): void {
  console.log(`\n${result.id}. ${result.name}`);
  for (const figure of result.figures) {
    console.log(`   ${figure.label}: ${formatValue(figure.value)}${figure.unit ? ` ${figure.unit}` : ""}`);
  }
  for (const note of result.notes ?? []) console.log(`   note: ${note}`);
  const verdict = result.met === null ? "not measured" : result.met ? "met" : "MISSED";
  console.log(`   target ${result.target}: ${verdict}`);
  console.log(`${RESULT_PREFIX}${JSON.stringify(result)}`);
}

/** Numbers with thousands separators and at most 3 significant decimals. */
export function formatValue(value: number | string): string {
  if (typeof value === "string") return value;
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The median of a list of numbers (the list is not modified). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The value at fraction `p` (0–1) of a sorted copy: p99 is `percentile(xs, 0.99)`. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Timings of several variants of one job, taken in rounds so each round compares like with like. */
export interface Comparison {
  /** Median milliseconds per variant. */
  readonly medians: Record<string, number>;
  /** Milliseconds per round, per variant. */
  readonly samples: Record<string, number[]>;
  /** Median over rounds of `a / b`, each ratio taken within one round (drift cancels out). */
  ratio(a: string, b: string): number;
}

/**
 * Time each variant once per round, in a rotating order, after `warmup` untimed runs of each.
 * Absolute times drift on shared machines; ratios within a round do much less.
 */
export function compare(
  variants: Record<string, () => unknown>,
  options: { rounds: number; warmup: number },
): Comparison {
  const names = Object.keys(variants);
  let sink = 0;
  for (let i = 0; i < options.warmup; i++) {
    for (const name of names) sink += consume(variants[name]!());
  }
  const samples: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length]!;
      const started = performance.now();
      const output = variants[name]!();
      samples[name]!.push(performance.now() - started);
      sink += consume(output);
    }
  }
  if (sink === -1) console.log("unreachable"); // keeps the outputs observable
  const medians = Object.fromEntries(names.map((name) => [name, median(samples[name]!)]));
  return {
    medians,
    samples,
    ratio: (a, b) => median(samples[a]!.map((value, round) => value / samples[b]![round]!)),
  };
}

function consume(output: unknown): number {
  if (typeof output === "string") return output.length;
  if (Array.isArray(output)) return output.length;
  if (output !== null && typeof output === "object") return Object.keys(output).length;
  return 0;
}

/** The runtime running this file, and its version. */
export function runtime(): { name: "node" | "deno" | "bun"; version: string } {
  const global = globalThis as {
    Deno?: { version: { deno: string } };
    Bun?: { version: string };
    process?: { versions: { node: string } };
  };
  if (global.Deno) return { name: "deno", version: global.Deno.version.deno };
  if (global.Bun) return { name: "bun", version: global.Bun.version };
  return { name: "node", version: global.process?.versions.node ?? "unknown" };
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
