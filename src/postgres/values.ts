/**
 * How a PostgreSQL value, as the server writes it in text (with the session's `DateStyle` ISO and
 * `TimeZone` UTC, which the source sets), becomes a Userpilot property value. One function per
 * family of types; each returns the value, or the reason it cannot be one (never the value itself).
 * @module
 */
import type { MetadataInputValue } from "../core/inputs.ts";

/** A converted value, or why the text cannot be one. */
export type Converted = MetadataInputValue | { readonly problem: string };

/** Turns the server's text of one value into a property value. */
export type ValueReader = (text: string) => Converted;

const INTEGER = /^-?\d+$/;
const DECIMAL = /^(-?)(\d*)(?:\.(\d*))?(?:[eE][+-]?\d+)?$/;
// ISO DateStyle, UTC: `2024-05-01`, `2024-05-01 13:45:00`, `2024-05-01 13:45:00.123456+00`.
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2})(?: (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?)?(\+00)?$/;

/** Integers (`smallint`, `integer`, `bigint`, `oid`): a number, unless beyond 2^53, where it would round. */
export const readInteger: ValueReader = (text) => {
  const value = INTEGER.test(text) ? Number(text) : Number.NaN;
  if (Number.isNaN(value)) return { problem: "is not an integer" };
  return Number.isSafeInteger(value) ? value : {
    problem:
      "is an integer beyond 2^53, which a JSON number cannot hold exactly: cast it to text in the query",
  };
};

/**
 * `numeric`: a number, unless its integer part is beyond 2^53 (it would round) or it is NaN or
 * infinite. Fractions become the nearest double, as every JSON number is.
 */
export const readNumeric: ValueReader = (text) => {
  const match = DECIMAL.exec(text);
  if (match === null) return { problem: "is not a finite number (NaN or infinity)" };
  const value = Number(text);
  if (!Number.isFinite(value)) return { problem: "is not a finite number" };
  if (Math.abs(value) > Number.MAX_SAFE_INTEGER) {
    return {
      problem:
        "is a number beyond 2^53, which a JSON number cannot hold exactly: cast it to text in the query",
    };
  }
  return value;
};

/** `real`, `double precision`: a number, unless NaN or infinite (JSON has neither). */
export const readFloat: ValueReader = (text) => {
  const value = Number(text);
  return Number.isFinite(value) ? value : { problem: "is not a finite number (NaN or infinity)" };
};

/** `boolean`: the server writes `t` or `f`. */
export const readBoolean: ValueReader = (text) =>
  text === "t" ? true : text === "f" ? false : { problem: "is not a boolean" };

/**
 * `date`, `timestamp`, `timestamptz`: ISO 8601 in UTC to the millisecond, as the CSV reader writes
 * typed dates (`2024-05-01T13:45:00.123Z`; a date is its midnight UTC). A `timestamp` without a
 * zone is taken as UTC. `infinity`, BC dates and years past 9999 have no ISO 8601 form Userpilot
 * reads, and are refused.
 */
export const readTimestamp: ValueReader = (text) => {
  const match = TIMESTAMP.exec(text);
  if (match === null) {
    return {
      problem: /infinity/.test(text)
        ? "is infinity, which is not a date Userpilot can store"
        : "is not a date Userpilot can store (BC, or a year past 9999)",
    };
  }
  const [, day, time = "00:00:00", fraction = ""] = match;
  return `${day}T${time}.${fraction.padEnd(3, "0").slice(0, 3)}Z`;
};

/** Everything else (`text`, `varchar`, `uuid`, enums, `interval`, ...): the server's text as it is. */
export const readText: ValueReader = (text) => text;
