/** @jsxImportSource . */
import type { FC } from "./jsx-runtime.ts";

/** How the operator's page writes numbers, durations and times: always with their units. */

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** `1,234` */
export const count = (n: number): string => integer.format(n);

/** `1 job`, `1,234 jobs`: a count and its unit. */
export const counted = (n: number, unit: string): string => `${count(n)} ${n === 1 ? unit : `${unit}s`}`;

/** `1 row`, `1,234 rows` */
export const rows = (n: number): string => counted(n, "row");

/** `1,200 rows/min` */
export const perMinute = (n: number): string => `${count(n)} rows/min`;

/** `0 s`, `45 s`, `12 min`, `1 h 23 min`, `2 d 3 h`: two units at most, rounded down. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`;
}

/** `12 min ago`, from an ISO time and now (ms). */
export const age = (iso: string, now: number): string => `${duration((now - Date.parse(iso)) / 1000)} ago`;

/** `2026-05-01 12:00:00 UTC`: what a time reads without JavaScript (the page's script localises it). */
export const utc = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;

/**
 * A time as UTC text, `<time datetime>` for machines, that the page's script rewrites in the
 * viewer's locale.
 *
 * @example
 * ```tsx
 * <When iso="2026-05-01T12:00:00.000Z" />
 * ```
 */
export const When: FC<{ iso: string }> = ({ iso }) => <time datetime={iso} data-local="">{utc(iso)}</time>;
