import * as v from "valibot";

const rate = v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1)), 0);

/** Fault settings; every rate is from 0 to 1 and defaults to 0 (off). */
export interface Faults {
  /** Answer 429 with `Retry-After: retryAfterSeconds`. */
  rate429: number;
  retryAfterSeconds: number;
  /** Answer 500, 502 or 503. */
  rate5xx: number;
  /** Delay the answer by `latencyMs`. */
  latencyRate: number;
  latencyMs: number;
  /** Cut the connection: half of the time before the request is handled, half after. */
  dropRate: number;
  /** Make a new bulk job end `failed` part of the way through. */
  jobFailureRate: number;
  /** Refuse a bulk submission with 400, as Userpilot might for a row it will not take. */
  rejectRate: number;
  /** Poison rows by id: a bulk submission holding any of these, an event of such a user, or a delete of such an id, answers 400. */
  refuseIds: string[];
  /** Poison rows by id: a job holding any of these ends `failed` when it reaches that row. */
  failIds: string[];
  /** Rows by id that Userpilot finds too large: a submission holding any answers 413. */
  tooLargeIds: string[];
  /** API keys answered 401 on every call, as if revoked in Userpilot's Environment settings. */
  revokedKeys: string[];
  /** Reseed the fault dice, so a run can be replayed (the sandbox's `seed` option otherwise). */
  seed?: number | undefined;
}

/** The body of `POST /__sandbox/faults`; omitted fields are off. */
export const FaultsSchema: v.GenericSchema<unknown, Faults> = v.strictObject({
  /** Answer 429 with `Retry-After: retryAfterSeconds`. */
  rate429: rate,
  retryAfterSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 1),
  /** Answer 500, 502 or 503. */
  rate5xx: rate,
  /** Delay the answer by `latencyMs`. */
  latencyRate: rate,
  latencyMs: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(60_000)), 0),
  /** Cut the connection: half of the time before the request is handled, half after. */
  dropRate: rate,
  /** Make a new bulk job end `failed` part of the way through. */
  jobFailureRate: rate,
  rejectRate: rate,
  refuseIds: v.optional(v.array(v.string()), []),
  failIds: v.optional(v.array(v.string()), []),
  tooLargeIds: v.optional(v.array(v.string()), []),
  revokedKeys: v.optional(v.array(v.string()), []),
  seed: v.optional(v.pipe(v.number(), v.integer())),
});

/** No faults at all. */
export const NO_FAULTS: Faults = v.parse(FaultsSchema, {});

/** A small seeded PRNG (mulberry32), so a faulty run can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
