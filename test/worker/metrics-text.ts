/**
 * `GET /metrics` read by a published parser (parse-prometheus-text-format), not ours. It reads the
 * Prometheus text format, which OpenMetrics extends: each line is checked (label quoting and
 * escapes, values), `# UNIT` and `# EOF` are comments to it. One difference is bridged here: an
 * OpenMetrics counter family `x` (its `# TYPE` line) has samples named `x_total`, which this
 * parser reads as a family of their own.
 */
import parsePrometheusTextFormat from "parse-prometheus-text-format";

/** One sample's labels and value. */
export interface Sample {
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Per sample name (`..._total` for a counter): the family's type (lower case), help and samples. */
export type ParsedMetrics = Map<string, { type: string; help: string; samples: Sample[] }>;

/** Parse `text`; throws where the parser finds a line it cannot read. */
export function parseMetrics(text: string): ParsedMetrics {
  const families = parsePrometheusTextFormat(text);
  const declared = new Map(families.filter((family) => family.type !== "UNTYPED").map((f) => [f.name, f]));
  const parsed: ParsedMetrics = new Map();
  for (const family of families) {
    if (family.metrics.length === 0) continue;
    const counter = family.name.endsWith("_total")
      ? declared.get(family.name.slice(0, -"_total".length))
      : undefined;
    const typed = counter ?? family;
    parsed.set(family.name, {
      type: typed.type.toLowerCase(),
      help: typed.help,
      samples: family.metrics.map((sample) => ({
        labels: { ...sample.labels },
        value: Number(sample.value),
      })),
    });
  }
  return parsed;
}

/** The value of the sample `name` with exactly `labels` (throws if there is none). */
export function valueOf(metrics: ParsedMetrics, name: string, labels: Record<string, string> = {}): number {
  const sample = metrics.get(name)?.samples.find((s) =>
    JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort())
  );
  if (sample === undefined) throw new Error(`no sample ${name} ${JSON.stringify(labels)}`);
  return sample.value;
}
