/**
 * Userpilot as the simulated world has it: the sandbox (the project's faithful stand-in, on the
 * world's clock), behind a network that loses, delays, refuses and times out requests as the
 * scenario says. Every decision is drawn from the world's random source, in call order.
 * @module
 */
import { createSandbox } from "../src/sandbox/mod.ts";
import type { FetchFunction } from "../src/core/transport.ts";
import type { Random } from "./random.ts";
import type { World } from "./world.ts";

/** What the network and Userpilot do wrong, at rates (0 to 1 per request) and in windows of time. */
export interface UserpilotFaults {
  /** Mean one-way latency, ms. */
  readonly latencyMs: number;
  /** 429 with `Retry-After` (seconds). */
  readonly rate429: number;
  readonly retryAfterSeconds: number;
  /** 500, 502 or 503. */
  readonly rate5xx: number;
  /** The request never reaches Userpilot; the connection fails. */
  readonly dropBefore: number;
  /** Userpilot acts on the request, but its answer is lost. */
  readonly dropAfter: number;
  /** No answer at all: the caller's timeout (30 s) ends it. */
  readonly hang: number;
  /** A poll of a job answers 404: Userpilot forgot the job (it may still run). */
  readonly forgetJob: number;
  /** Windows when every request fails (refused connections or 503s). */
  readonly outages: readonly {
    readonly from: number;
    readonly to: number;
    readonly kind: "refuse" | "5xx";
  }[];
  /** Windows when Userpilot answers 401 to our key (it was revoked, then restored). */
  readonly revoked: readonly { readonly from: number; readonly to: number }[];
  /** Windows when jobs run this many times slower (past their allowance). */
  readonly slow: readonly { readonly from: number; readonly to: number; readonly factor: number }[];
}

/** No faults: the liveness phase. */
export const CALM: UserpilotFaults = {
  latencyMs: 20,
  rate429: 0,
  retryAfterSeconds: 1,
  rate5xx: 0,
  dropBefore: 0,
  dropAfter: 0,
  hang: 0,
  forgetJob: 0,
  outages: [],
  revoked: [],
  slow: [],
};

/** The API key the simulated endpoint holds. */
export const API_KEY = "sim-api-key";
const HOST = "http://userpilot.sim";
const TIMEOUT_MS = 30_000;

const inWindow = <W extends { readonly from: number; readonly to: number }>(
  windows: readonly W[],
  now: number,
) => windows.find((w) => now >= w.from && now < w.to);

/** Userpilot, simulated. */
export class SimulatedUserpilot {
  readonly #world: World;
  readonly #random: Random;
  readonly #sandbox: ReturnType<typeof createSandbox>;
  readonly #rowsPerMinute: number;
  faults: UserpilotFaults;
  /** Requests made, and how many of them ended in each way. */
  readonly counts: Record<string, number> = {};

  constructor(world: World, options: { rowsPerMinute: number; queueMs: number; faults: UserpilotFaults }) {
    this.#world = world;
    this.#random = world.random.fork();
    const ids = world.random.fork();
    this.#rowsPerMinute = options.rowsPerMinute;
    this.#sandbox = createSandbox({
      apiKeys: [API_KEY],
      rowsPerMinute: options.rowsPerMinute,
      queueMs: options.queueMs,
      seed: Math.floor(world.random.next() * 2 ** 32),
      now: () => world.now,
      jobIds: () => Math.floor(ids.next() * 2 ** 48).toString(16).padStart(12, "0"),
    });
    this.faults = options.faults;
  }

  /** Userpilot's own state and controls (`/__sandbox/...`), reached without faults. */
  async inspect<T>(path: string, body?: unknown): Promise<T> {
    const response = await this.#sandbox.fetch(
      new Request(`${HOST}/__sandbox${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: { "Content-Type": "application/json" },
        body: body === undefined ? null : JSON.stringify(body),
      }),
    );
    return (await response.json()) as T;
  }

  #count(outcome: string): void {
    this.counts[outcome] = (this.counts[outcome] ?? 0) + 1;
  }

  /** The `fetch` the endpoint calls Userpilot with. */
  readonly fetch: FetchFunction = async (request) => {
    const world = this.#world;
    const random = this.#random;
    const faults = this.faults;
    const method = request.method;
    const path = new URL(request.url).pathname;
    const body = method === "GET" ? null : await request.text();
    const headers = new Headers(request.headers);
    const latency = () => random.exp(faults.latencyMs);
    const after = <T>(ms: number, label: string, settle: () => T): Promise<Awaited<T>> =>
      new Promise((resolve, reject) =>
        world.after(ms, label, () => {
          try {
            resolve(settle() as Awaited<T>);
          } catch (error) {
            reject(error);
          }
        })
      );
    const failed = (why: string) => () => {
      throw new TypeError(`fetch failed: ${why}`);
    };
    const answer = (status: number, text: string, extra: Record<string, string> = {}) => () =>
      new Response(text, { status, headers: { "Content-Type": "application/json", ...extra } });
    const outage = inWindow(faults.outages, world.now);
    if (outage?.kind === "refuse") {
      return this.#counted("refused", after(latency(), "net", failed("refused")));
    }
    if (outage?.kind === "5xx") return this.#counted("5xx", after(latency(), "net", answer(503, "")));
    if (random.chance(faults.hang)) {
      return this.#counted("hang", after(TIMEOUT_MS, "net", failed("timed out")));
    }
    if (random.chance(faults.dropBefore)) {
      return this.#counted("dropBefore", after(latency(), "net", failed("reset")));
    }
    if (random.chance(faults.rate429)) {
      const retryAfter = { "Retry-After": String(faults.retryAfterSeconds) };
      return this.#counted("429", after(latency(), "net", answer(429, "", retryAfter)));
    }
    if (random.chance(faults.rate5xx)) {
      return this.#counted("5xx", after(latency(), "net", answer(random.pick([500, 502, 503]), "")));
    }
    if (path.startsWith("/v1/background_jobs/") && random.chance(faults.forgetJob)) {
      const forgotten = JSON.stringify({
        errors: [{ error: "Not Found", error_code: "not_found", message: "" }],
      });
      return this.#counted("forgotten", after(latency(), "net", answer(404, forgotten)));
    }
    if (inWindow(faults.revoked, world.now)) headers.set("Authorization", "Token revoked-key");
    const lose = random.chance(faults.dropAfter);
    const there = latency();
    const back = latency();
    await new Promise<void>((resolve) => world.after(there, "net", resolve));
    const slow = inWindow(faults.slow, world.now);
    await this.#sandbox.fetch(
      new Request(`${HOST}/__sandbox/config`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ rowsPerMinute: this.#rowsPerMinute / (slow?.factor ?? 1) }),
      }),
    );
    const response = await this.#sandbox.fetch(new Request(`${HOST}${path}`, { method, headers, body }));
    const text = await response.text();
    const answered = () => new Response(text, { status: response.status, headers: response.headers });
    if (lose) return this.#counted("dropAfter", after(back, "net", failed("connection lost")));
    this.#count(String(response.status));
    return after(back, `net ${method} ${path.split("/")[2]} ${response.status}`, answered);
  };

  #counted<T>(outcome: string, promise: Promise<T>): Promise<T> {
    this.#count(outcome);
    return promise;
  }
}
