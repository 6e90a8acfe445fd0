import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, vi } from "vitest";
import { signPayload, type SignPayloadOptions } from "../../mod.ts";
import type { DeliveryStatus } from "../../src/worker/delivery/index.ts";
import { SECRETS } from "../reliability/requests-corpus.ts";
import { TEST_KEYS } from "../support/credentials.ts";
import { deliveryStub as stubFor } from "../../src/worker/delivery/index.ts";

export { POLICY_CONFIG } from "../support/policy-config.ts";

export const ORIGIN = "https://ingest.example.com";
/** The ingest key most tests use (`tester`: identify, track, delete; test/support/credentials.ts). */
export const KEY: string = TEST_KEYS.new;
/** The operators' full key (`ops` in ADMIN_KEYS). */
export const ADMIN_KEY: string = TEST_KEYS.admin;
export { TEST_KEYS };

/** Call an operator's route with the admin key. */
export function admin(path: string, body?: unknown): Promise<Response> {
  return call(path, {
    method: body === undefined ? "GET" : "POST",
    headers: { Authorization: `Bearer ${ADMIN_KEY}`, "Content-Type": "application/json" },
    body: body === undefined ? null : JSON.stringify(body),
  });
}
/** The two signing secrets vitest.config.ts gives the Worker (rotation: both are active). */
export const SECRET_NEW: string = SECRETS.new;
export const SECRET_OLD: string = SECRETS.old;

/** Call the Worker's fetch handler as a client would. */
export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`${ORIGIN}${path}`, init));
}

/** POST JSON with a bearer key. */
export function post(path: string, body: unknown, key = KEY): Promise<Response> {
  return call(path, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** POST JSON signed with `signPayload` (a fresh id unless one is given). */
export async function postSigned(
  path: string,
  body: unknown,
  secret = SECRET_NEW,
  options: SignPayloadOptions = {},
) {
  const text = JSON.stringify(body);
  const headers = await signPayload(secret, text, options);
  return call(path, {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/json" },
    body: text,
  });
}

/** Talk to the sandbox behind the USERPILOT binding. */
export async function sandbox<T = unknown>(path: string, body?: unknown): Promise<T> {
  const response = await env.USERPILOT!.fetch(`http://userpilot.localhost${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? null : JSON.stringify(body),
  });
  return (await response.json()) as T;
}

/**
 * Restart one Durable Object as a deploy or an eviction would: its in-memory state is lost and
 * the next call starts a new instance over the same storage. (Only this object: resetting every
 * object, the test pool's own included, could leave the pool waiting for ever.)
 */
export async function restart(stub: DurableObjectStub): Promise<void> {
  await runInDurableObject(stub, (_, state) => state.abort("simulated restart")).catch(() => {});
}

/** The Durable Object for the configured Userpilot environment. */
export function deliveryStub() {
  return Promise.resolve(stubFor(env));
}

/**
 * Set rows aside directly, as delivery does for rows Userpilot refuses alone: users `ids`, set
 * aside at `at` (plus their index in ms), each with `{ n: index }` and four failures.
 */
export async function setAside(ids: string[], at = Date.now() - 60_000): Promise<void> {
  await runInDurableObject(stubFor(env), (_, state) => {
    for (const [i, id] of ids.entries()) {
      state.storage.sql.exec(
        "INSERT INTO set_aside (kind, id, row, reason, attempts, set_aside_at, fields) VALUES ('users', ?, ?, ?, 4, ?, ?)",
        id,
        JSON.stringify({ user_id: id, metadata: { n: i } }),
        "Userpilot refused this row alone: POST /v1/users/bulk_identify answered 400 (invalid_row)",
        at + i,
        JSON.stringify({ "@": [null, 1000 + i], "m:n": [i, 1000 + i] }),
      );
    }
  });
}

/**
 * Wait (bounded) until the backlog is empty and no job is in flight, and, when `rowsReceived` is
 * given, until that many rows have come through the Queue.
 */
export async function drained(timeoutMs = 20_000, rowsReceived = 0): Promise<DeliveryStatus> {
  const stub = await deliveryStub();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await stub.status();
    const { users, companies, events, deletions } = status.pending;
    const empty = users + companies + events + deletions === 0 && status.job === null;
    if (empty && status.rowsReceived >= rowsReceived) return status;
    if (Date.now() > deadline) throw new Error(`not drained: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export type Profile = { user_id?: string; company_id?: string; metadata: Record<string, unknown> };

/**
 * Replace the Queue's `sendBatch` with a recorder for each test of the calling file: `sent` holds
 * every batch sent (emptied before each test), `queuedRows()` the rows they carried.
 */
export function captureQueue() {
  const sent: unknown[][] = [];
  beforeEach(() => {
    sent.length = 0;
    vi.spyOn(env.INGEST_QUEUE, "sendBatch").mockImplementation((messages) => {
      sent.push([...messages]);
      return Promise.resolve(
        { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } } as QueueSendBatchResponse,
      );
    });
  });
  afterEach(() => vi.restoreAllMocks());
  const queuedRows = () =>
    sent.flat().flatMap((message) => (message as { body: { rows: unknown[] } }).body.rows);
  return { sent, queuedRows };
}

/** Wait (bounded) until `condition` holds; returns what it last returned. */
export async function eventually<T>(
  condition: () => Promise<T>,
  accept: (value: T) => boolean = Boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met in time: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Userpilot's real-time limits, 60 times faster (vitest.config.ts paces the Worker to match): 600
 * calls per 1 s window instead of per minute, a delete every 33 ms instead of every 2 s.
 */
export const FAST_USERPILOT = {
  rowsPerMinute: 600_000,
  queueMs: 5,
  realtimeLimit: 600,
  realtimeWindowMs: 1000,
  deleteIntervalMs: 33,
} as const;

export { planAndEndJob } from "./store/suites/support.ts";
