/**
 * The delivery engine's own bounds: how much one step may do, and how long what it keeps is kept
 * (`retention.ts`). One object, so a simulator can shrink them and make rare paths common.
 * @module
 */
import { MAX_ROWS_PER_REQUEST } from "../../core/limits.ts";
import { RETENTION, type Retention } from "../retention.ts";

/** How much one step of the engine does, and how long it keeps things. */
export interface EngineLimits {
  /** Most rows in one Userpilot job (Userpilot takes 10,000). */
  readonly maxRowsPerJob: number;
  /** Rows set aside (a redrive or purge), or fingerprints (a forget, a prune), one transaction handles. */
  readonly batch: number;
  /** Most ids in one forwarded delete request (Userpilot documents no limit). */
  readonly deleteBatchIds: number;
  /** Most events sent together in one round (each of a different user). */
  readonly eventsPerRound: number;
  /** How often what is past its retention is purged. */
  readonly purgeEveryMs: number;
  /** Longest wait for one answer from Userpilot (a simulator, whose network keeps its own time, lifts it). */
  readonly requestTimeoutMs: number;
  readonly retention: Retention;
}

/** The engine's bounds in production. */
export const ENGINE_LIMITS: EngineLimits = {
  maxRowsPerJob: MAX_ROWS_PER_REQUEST,
  batch: 1_000,
  deleteBatchIds: 1_000,
  eventsPerRound: 10,
  purgeEveryMs: 60_000,
  requestTimeoutMs: 30_000,
  retention: RETENTION,
};
