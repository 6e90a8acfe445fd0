import type { Context } from "hono";
import type { Faults } from "./faults.ts";
import type { SandboxState } from "./state.ts";

/** Status codes the sandbox answers with Userpilot's error body. */
export type ErrorStatus = 400 | 401 | 404 | 409 | 413 | 415 | 429;

const ERROR_NAMES: Record<ErrorStatus, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
};

/** Userpilot's documented error body. */
export function errorBody(
  status: ErrorStatus,
  code: string,
  message: string,
  details: unknown = null,
): object {
  return { errors: [{ details, error: ERROR_NAMES[status], error_code: code, message }] };
}

/** Answer with Userpilot's error body. */
export function fail(
  c: Context,
  status: ErrorStatus,
  code: string,
  message: string,
  details?: unknown,
): Response {
  return c.json(errorBody(status, code, message, details), status);
}

/** The settings `POST /__sandbox/config` changes at run time. */
export interface SandboxConfig {
  /** Rows a bulk job processes per minute. */
  rowsPerMinute: number;
  /** How long a new job stays queued before it is processed. */
  queueMs: number;
  /** Real-time calls (identify, track) accepted per token in any `realtimeWindowMs`: Userpilot's 600 a minute. */
  realtimeLimit: number;
  realtimeWindowMs: number;
  /** Least time between two delete requests of one token: Userpilot's 2 seconds. */
  deleteIntervalMs: number;
}

/** What every part of the sandbox shares: its state, settings, faults and dice, and its clock. */
export interface SandboxContext {
  readonly state: SandboxState;
  readonly config: SandboxConfig;
  faults: Faults;
  /** True with probability `rate` (seeded dice). */
  roll(rate: number): boolean;
  random(): number;
  /** Seed the dice again, so a run can be replayed. */
  reseed(seed: number): void;
  readonly now: () => number;
  /** A new job's id (after Userpilot's `bulk:jobs:NX-…:` prefix). */
  readonly jobId: () => string;
}
