// The package ships no types: what test/worker/metrics-text.ts uses of it.
declare module "parse-prometheus-text-format" {
  interface ParsedSample {
    readonly value?: string;
    readonly labels?: Record<string, string>;
  }
  interface ParsedFamily {
    readonly name: string;
    readonly help: string;
    /** Upper case: COUNTER, GAUGE, UNTYPED, ... */
    readonly type: string;
    readonly metrics: readonly ParsedSample[];
  }
  /** Throws on a line it cannot read. */
  export default function parsePrometheusTextFormat(text: string): ParsedFamily[];
}
