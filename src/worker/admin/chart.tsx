/** @jsxImportSource . */
import type { FC } from "./jsx-runtime.ts";
import type { HistoryPoint } from "./history.ts";

const WIDTH = 720;
const TOP = 16;
const BOTTOM = 150;
const HEIGHT = 172;

/** The smallest of 1, 2, 5 × 10ⁿ at or above `value` (at least 10), so the scale reads easily. */
function niceCeiling(value: number): number {
  if (value <= 10) return 10;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * power).find((nice) => nice >= value)!;
}

/**
 * A stepped area of the known values: each point is as wide as its minutes, so a lone point
 * still shows; a gap (nothing recorded) breaks the shape.
 */
function areaPath(values: readonly (number | null)[], max: number): string {
  const step = WIDTH / values.length;
  const x = (index: number) => (index * step).toFixed(1);
  const y = (value: number) => (BOTTOM - (value / max) * (BOTTOM - TOP)).toFixed(1);
  let path = "";
  values.forEach((value, index) => {
    if (value === null) return;
    const opens = index === 0 || values[index - 1] === null;
    const closes = index === values.length - 1 || values[index + 1] === null;
    if (opens) path += `M${x(index)},${BOTTOM}`;
    path += `V${y(value)}H${x(index + 1)}`;
    if (closes) path += `V${BOTTOM}Z`;
  });
  return path;
}

const HOUR_TICKS = [24, 18, 12, 6, 0];

/**
 * One series of the last 24 hours as an inline SVG area chart, drawn on the server: no script,
 * no external resource. The scale's top and middle are labelled with units; the time axis reads
 * in hours before now, which needs no time zone.
 *
 * @example
 * ```tsx
 * <HistoryChart id="backlog" points={points} pick={(p) => p.backlog} title="Backlog" unit={rows} />
 * ```
 */
export const HistoryChart: FC<{
  id: string;
  points: readonly HistoryPoint[];
  pick: (point: HistoryPoint) => number | null;
  title: string;
  unit: (value: number) => string;
}> = ({ id, points, pick, title, unit }) => {
  const values = points.map(pick);
  const known = values.filter((value) => value !== null);
  const max = niceCeiling(Math.max(0, ...known));
  const latest = known.at(-1);
  const summary = known.length === 0
    ? "Nothing recorded yet."
    : `Highest ${unit(Math.max(...known))}; latest ${unit(latest!)}.`;
  return (
    <figure>
      <figcaption id={`${id}-title`}>{title}</figcaption>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-labelledby={`${id}-title ${id}-desc`}
        class={`chart ${id}`}
      >
        <desc id={`${id}-desc`}>{summary}</desc>
        {[max, max / 2].map((level) => {
          const y = BOTTOM - (level / max) * (BOTTOM - TOP);
          return (
            <g>
              <line x1="0" x2={WIDTH} y1={y} y2={y} class="grid" />
              <text x="2" y={y - 3}>{unit(level)}</text>
            </g>
          );
        })}
        <line x1="0" x2={WIDTH} y1={BOTTOM} y2={BOTTOM} class="axis" />
        <path d={areaPath(values, max)} class="area" />
        {HOUR_TICKS.map((hours) => {
          const x = WIDTH - (hours / 24) * WIDTH;
          const anchor = hours === 24 ? "start" : hours === 0 ? "end" : "middle";
          return (
            <text x={x} y={HEIGHT - 4} text-anchor={anchor}>
              {hours === 0 ? "now" : `${hours} h ago`}
            </text>
          );
        })}
      </svg>
    </figure>
  );
};
