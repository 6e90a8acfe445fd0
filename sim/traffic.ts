/**
 * The callers and the endpoint's accept path: requests drawn from the scenario's traffic, sent
 * through the real accept logic (`acceptRequest`: request ids claimed in the real ledger, stamps
 * from the isolates' acceptance clocks, deletes to the object, rows and events to the Queue), and
 * retried by their callers until accepted, as the ingest client does.
 * @module
 */
import { type BulkKind, planChunks } from "../src/core/build-requests.ts";
import { INGEST_MESSAGE_BYTES } from "../src/core/limits.ts";
import type { Company, User } from "../src/core/schemas.ts";
import { type AcceptDeps, type AcceptOutcome, acceptRequest } from "../src/worker/ingest/accept-request.ts";
import { AcceptanceClock, type Accepted, type QueuedPart } from "../src/worker/ingest/messages.ts";
import { RequestLedger } from "../src/worker/ingest/request-ledger.ts";
import type { Log } from "../src/worker/log.ts";
import type { SimulatedObject } from "./host.ts";
import type { ReferenceModel } from "./model.ts";
import type { SimulatedQueue } from "./queue.ts";
import type { Random } from "./random.ts";
import type { GatewayFaults, Scenario } from "./scenario.ts";
import { SqliteStorage } from "./sqlite-storage.ts";
import type { World } from "./world.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A request a caller sends: what it holds (for the checks), and its body as the routes make it. */
export interface SimRequest {
  readonly label: string;
  readonly body: Accepted;
  /** Its `Idempotency-Key`, if it has one. */
  requestId?: string;
  readonly fingerprint: string;
}

/** The endpoint's accept path: isolates with their clocks, the replay guard, the Queue, the object. */
export class SimulatedGateway {
  readonly #world: World;
  readonly #clocks: AcceptanceClock[];
  readonly #skew: number[];
  readonly #ledger: RequestLedger;
  readonly #deps: Omit<AcceptDeps, "stamp">;
  faults: GatewayFaults;

  constructor(
    world: World,
    parts: { queue: SimulatedQueue; object: SimulatedObject; model: ReferenceModel; log: Log },
    faults: GatewayFaults,
  ) {
    this.#world = world;
    this.faults = faults;
    this.#skew = Array.from(
      { length: faults.isolates },
      () => (world.random.next() - 0.5) * 2 * faults.skewMs,
    );
    this.#clocks = this.#skew.map((_, i) =>
      new AcceptanceClock(() => Math.round(world.now + this.#skew[i]!))
    );
    this.#ledger = new RequestLedger(new SqliteStorage());
    const unavailable = () => world.random.chance(this.faults.guardUnavailable);
    const { queue, object, model, log } = parts;
    this.#deps = {
      queue,
      delivery: {
        deleteIds: async (target: BulkKind, ids: readonly string[], deletedAt: number) => {
          if (world.random.chance(this.faults.deleteCallFails)) throw new Error("the object did not answer");
          const recorded = await object.call((engine) => engine.deleteIds(target, ids, deletedAt));
          model.delete(target, ids, deletedAt);
          return recorded;
        },
      },
      audit: () => Promise.resolve(),
      newId: () => `sim-${Math.floor(world.random.next() * 2 ** 52).toString(36)}`,
      // The guard's answers, as promises (an RPC's): a refusal to answer is a rejection.
      ledger: {
        claim: (key, fingerprint, stamp) =>
          unavailable()
            ? Promise.reject(new Error("the replay guard did not answer"))
            : Promise.resolve(this.#ledger.claim(key, fingerprint, stamp, world.now)),
        confirm: (key, accepted) =>
          unavailable()
            ? Promise.reject(new Error("the replay guard did not answer"))
            : Promise.resolve(this.#ledger.confirm(key, accepted)),
        release: (key) => Promise.resolve(this.#ledger.release(key)),
      },
      log,
    };
  }

  /** One attempt at a request, on one of the isolates. */
  accept(request: SimRequest): Promise<AcceptOutcome> {
    const world = this.#world;
    const isolate = world.random.int(0, this.#clocks.length - 1);
    if (this.faults.stepsBack && world.random.chance(0.01)) {
      // NTP steps this isolate's clock back a little.
      this.#skew[isolate] = this.#skew[isolate]! - world.random.next() * 2_000;
    }
    const clock = this.#clocks[isolate]!;
    const id = request.requestId;
    return acceptRequest(
      { ...this.#deps, stamp: () => clock.next() },
      request.body,
      id === undefined ? undefined : { id, key: id, fingerprint: request.fingerprint },
    );
  }
}

/** A request of given parts (a script's), with an `Idempotency-Key` if `requestId` is given. */
export function requestOf(
  label: string,
  parts: QueuedPart[],
  content: unknown,
  requestId?: string,
): SimRequest {
  const accepted = parts.reduce(
    (n, part) =>
      n + (part.kind === "events" ? part.events.length : part.kind === "deletions" ? part.ids.length : 0) +
      (part.kind === "users" || part.kind === "companies"
        ? part.chunks.reduce((m, c) => m + c.rows.length, 0)
        : 0),
    0,
  );
  const request: SimRequest = { label, body: { accepted, parts }, fingerprint: JSON.stringify(content) };
  if (requestId !== undefined) request.requestId = requestId;
  return request;
}

/** The parts of an identify of `rows`, as the routes make them. */
export function rowsPart(kind: BulkKind, rows: (User | Company)[]): QueuedPart {
  const { chunks } = planChunks(rows, { kind, maxBytes: INGEST_MESSAGE_BYTES });
  return { kind, chunks };
}

/** A caller: sends a request, and retries it after a 503 or a lost answer until it is accepted. */
export async function sendUntilAccepted(
  world: World,
  gateway: SimulatedGateway,
  request: SimRequest,
  outcomes: Record<string, number>,
): Promise<AcceptOutcome> {
  for (let attempt = 1;; attempt++) {
    let outcome: AcceptOutcome;
    try {
      outcome = await gateway.accept(request);
    } catch {
      outcome = { status: 503, error: "crashed", message: "" };
    }
    outcomes[outcome.status] = (outcomes[outcome.status] ?? 0) + 1;
    if (outcome.status !== 503) return outcome;
    await world.sleep(
      Math.min(60_000, 500 * 2 ** Math.min(attempt, 7)) * (0.5 + world.random.next()),
      "retry",
    );
  }
}

type Value = string | number | boolean | null;

/** Builds the requests of one scenario's traffic. */
export class TrafficSource {
  readonly #random: Random;
  readonly #scenario: Scenario;
  #counter = 0;
  #eventCounter = 0;
  /** Request ids used so far, with when (for reuse after the window). */
  readonly #usedIds: { id: string; at: number }[] = [];
  /** Users identified so far (events mostly go to them). */
  readonly #known: string[] = [];

  constructor(random: Random, scenario: Scenario) {
    this.#random = random;
    this.#scenario = scenario;
  }

  #user(): string {
    const { traffic } = this.#scenario;
    const r = this.#random;
    if (traffic.poison.length > 0 && r.chance(0.03)) return r.pick(traffic.poison);
    if (traffic.hotUsers > 0 && r.chance(traffic.hotShare)) return `hot-${r.int(0, traffic.hotUsers - 1)}`;
    return `user-${r.int(0, traffic.users - 1)}`;
  }

  #company(): string {
    const r = this.#random;
    const { traffic } = this.#scenario;
    if (traffic.poison.length > 0 && r.chance(0.02)) return r.pick(traffic.poison);
    return `company-${r.int(0, traffic.companies - 1)}`;
  }

  #metadata(): Record<string, Value> {
    const r = this.#random;
    const metadata: Record<string, Value> = {};
    for (let k = r.int(0, 4); k > 0; k--) {
      const name = `k${r.int(0, 7)}`;
      metadata[name] = r.pick([
        () => r.int(0, 1000),
        () => `v${r.int(0, 50)}`,
        () => r.chance(0.5),
        () => null,
      ])();
    }
    return metadata;
  }

  /** A new request: its id as the traffic says, its fingerprint, its label. */
  #request(label: string, parts: QueuedPart[], accepted: number, now: number, content: unknown): SimRequest {
    const r = this.#random;
    const { traffic } = this.#scenario;
    const request: SimRequest = { label, body: { accepted, parts }, fingerprint: JSON.stringify(content) };
    if (r.chance(traffic.withRequestId)) {
      const old = this.#usedIds.find((used) => now - used.at > DAY + HOUR);
      if (old !== undefined && r.chance(traffic.reuseAfterWindow)) {
        request.requestId = old.id;
        old.at = now;
      } else {
        request.requestId = `req-${this.#counter++}`;
        this.#usedIds.push({ id: request.requestId, at: now });
        if (this.#usedIds.length > 200) this.#usedIds.shift();
      }
    }
    return request;
  }

  #rows(kind: BulkKind, rows: (User | Company)[]): QueuedPart {
    return rowsPart(kind, rows);
  }

  /** A single identify (sometimes with Userpilot's real-time company shape). */
  identify(now: number, hot = false): SimRequest {
    const r = this.#random;
    const { hotUsers } = this.#scenario.traffic;
    const id = hot && hotUsers > 0 ? `hot-${r.int(0, hotUsers - 1)}` : this.#user();
    const user: User = { user_id: id, metadata: this.#metadata() };
    const parts = [];
    if (this.#scenario.traffic.companyPerHour > 0 && r.chance(0.2)) user.company_id = this.#company();
    parts.push(this.#rows("users", [user]));
    if (user.company_id !== undefined && r.chance(0.5)) {
      parts.push(this.#rows("companies", [{ company_id: user.company_id, metadata: this.#metadata() }]));
    }
    this.#known.push(id);
    if (this.#known.length > 1000) this.#known.shift();
    return this.#request(`identify ${id}`, parts, 1, now, user);
  }

  /** An identify of a new user, while the liveness phase waits for refused rows to be weighed. */
  calm(now: number, n: number): SimRequest {
    const user: User = { user_id: `calm-${n}`, metadata: this.#metadata() };
    return this.#request(`identify calm-${n}`, [this.#rows("users", [user])], 1, now, user);
  }

  /**
   * A delete of a user never identified, while the liveness phase waits for refused deletes to be
   * weighed (a refused delete is set aside only while other deletes go through).
   */
  calmDelete(now: number, n: number): SimRequest {
    const ids = [`calm-gone-${n}`];
    return this.#request(`delete users ${ids[0]}`, [{ kind: "deletions", target: "users", ids }], 1, now, {
      target: "users",
      ids,
    });
  }

  /** A company identify. */
  company(now: number): SimRequest {
    const row: Company = { company_id: this.#company(), metadata: this.#metadata() };
    return this.#request(`company ${row.company_id}`, [this.#rows("companies", [row])], 1, now, row);
  }

  /** A bulk body of users (ids may repeat; the planner merges them) or companies. */
  bulk(now: number): SimRequest {
    const r = this.#random;
    const kind: BulkKind = this.#scenario.traffic.companyPerHour > 0 && r.chance(0.2) ? "companies" : "users";
    const count = r.int(1, this.#scenario.traffic.bulkRows);
    const rows = Array.from(
      { length: count },
      (): User | Company =>
        kind === "users"
          ? { user_id: this.#user(), metadata: this.#metadata() }
          : { company_id: this.#company(), metadata: this.#metadata() },
    );
    if (kind === "users") { for (const row of rows.slice(0, 50)) this.#known.push((row as User).user_id); }
    return this.#request(`bulk ${kind} ×${count}`, [this.#rows(kind, rows)], count, now, rows);
  }

  /** An event: of a user identified before, mostly. */
  track(now: number): SimRequest {
    const r = this.#random;
    const unknown = this.#known.length === 0 || r.chance(this.#scenario.traffic.trackUnknownShare);
    const userId = unknown ? `stranger-${r.int(0, 1_000_000)}` : r.pick(this.#known);
    const event = { user_id: userId, event_name: "sim_event", metadata: { n: this.#eventCounter++ } };
    return this.#request(
      `track ${userId} #${event.metadata.n}`,
      [{ kind: "events", events: [event] }],
      1,
      now,
      event,
    );
  }

  /** A delete of a few users or companies. */
  delete(now: number): SimRequest {
    const r = this.#random;
    const target: BulkKind = r.chance(0.2) ? "companies" : "users";
    const ids = [
      ...new Set(
        Array.from({ length: r.int(1, 3) }, () => (target === "users" ? this.#user() : this.#company())),
      ),
    ];
    return this.#request(
      `delete ${target} ${ids.join(",")}`,
      [{ kind: "deletions", target, ids }],
      ids.length,
      now,
      {
        target,
        ids,
      },
    );
  }

  /** An identify of an id just deleted (a user who comes back). */
  reidentify(request: SimRequest, now: number): SimRequest | undefined {
    const part = request.body.parts[0];
    if (part?.kind !== "deletions") return undefined;
    const id = part.ids[0]!;
    const row = part.target === "users"
      ? { user_id: id, metadata: this.#metadata() }
      : { company_id: id, metadata: this.#metadata() };
    return this.#request(`re-identify ${id}`, [this.#rows(part.target, [row])], 1, now, row);
  }
}
