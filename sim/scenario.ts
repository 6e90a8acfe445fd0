/**
 * A seed's scenario, drawn in the manner of swarm testing: each seed turns on a random subset of
 * fault kinds and traffic kinds, at random strengths, instead of everything at once at low rates,
 * so faults that would mask each other do not, and a bug that needs one fault often shows.
 * @module
 */
import { ENGINE_LIMITS, type EngineLimits } from "../src/worker/delivery/limits.ts";
import type { ObjectFaults } from "./host.ts";
import type { QueueFaults } from "./queue.ts";
import { Random } from "./random.ts";
import type { UserpilotFaults } from "./userpilot.ts";

const MINUTE = 60_000;

/**
 * The clients' own timeout, lifted: it runs on the real clock, which must not decide anything in
 * a simulation. The simulated network times out a hung request at 30 s of simulated time itself.
 */
const SIM_REQUEST_TIMEOUT_MS = 2_000_000_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** What the callers send. */
export interface Traffic {
  /** Distinct users and companies the traffic draws from. */
  readonly users: number;
  readonly companies: number;
  /** Single identifies per hour while traffic flows. */
  readonly identifyPerHour: number;
  /** Bulk bodies per day, and the most rows in one. */
  readonly bulkPerDay: number;
  readonly bulkRows: number;
  /** Companies identified per hour. */
  readonly companyPerHour: number;
  /** A few users updated over and over: how many, and their share of identifies. */
  readonly hotUsers: number;
  readonly hotShare: number;
  /** Events per hour, and the share for users never identified. */
  readonly trackPerHour: number;
  readonly trackUnknownShare: number;
  /** Deletes per day, and the chance a deleted id is identified again. */
  readonly deletesPerDay: number;
  readonly reidentify: number;
  /** Requests with an `Idempotency-Key`, sent twice at once, or reused after the window. */
  readonly withRequestId: number;
  readonly sentTwice: number;
  readonly reuseAfterWindow: number;
  /** Ids Userpilot refuses (rows, events, deletes) or whose jobs fail at them. */
  readonly poison: readonly string[];
  readonly poisonFailsJob: boolean;
  /** An operator's actions: redrive all, purge some, forget fingerprints (per day). */
  readonly operatorPerDay: number;
  /** Hours of traffic per day (bursts): the rest of the day is quiet. */
  readonly activeHoursPerDay: number;
  /** Bursts per day: a dozen or so identifies of the hot users within a couple of seconds. */
  readonly burstsPerDay: number;
}

/** The gateway's own faults: isolates and their clocks, and the replay guard. */
export interface GatewayFaults {
  readonly isolates: number;
  /** How far an isolate's clock may be off, and whether it sometimes steps back. */
  readonly skewMs: number;
  readonly stepsBack: boolean;
  /** A claim or confirm the replay guard does not answer. */
  readonly guardUnavailable: number;
  /** A delete's call to the delivery object that fails (the caller retries). */
  readonly deleteCallFails: number;
}

/** Everything one seed runs. */
export interface Scenario {
  readonly seed: number;
  readonly start: number;
  /** Days of traffic and faults (the safety phase); the liveness phase follows, calm. */
  readonly days: number;
  readonly traffic: Traffic;
  readonly userpilot: UserpilotFaults & {
    readonly rowsPerMinute: number;
    readonly queueMs: number;
    /** Jobs that fail part of the way (the sandbox's `jobFailureRate`). */
    readonly jobFailureRate: number;
  };
  readonly object: ObjectFaults;
  readonly queue: QueueFaults;
  readonly gateway: GatewayFaults;
  /** The Worker's env (tuning vars) for this seed. */
  readonly env: Record<string, string>;
  readonly limits: EngineLimits;
  /** Which fault and traffic kinds this seed turned on, for the report. */
  readonly enabled: readonly string[];
}

/** A scenario with no faults and no traffic of its own, for a script to drive (the regression cases). */
export function quietScenario(seed: number, days: number, patch: Partial<Scenario> = {}): Scenario {
  const traffic: Traffic = {
    users: 100,
    companies: 10,
    identifyPerHour: 0,
    bulkPerDay: 0,
    bulkRows: 0,
    companyPerHour: 0,
    hotUsers: 0,
    hotShare: 0,
    trackPerHour: 0,
    trackUnknownShare: 0,
    deletesPerDay: 0,
    reidentify: 0,
    withRequestId: 0,
    sentTwice: 0,
    reuseAfterWindow: 0,
    poison: [],
    poisonFailsJob: false,
    operatorPerDay: 0,
    activeHoursPerDay: 24,
    burstsPerDay: 0,
  };
  return {
    seed,
    start: Date.UTC(2026, 5, 1, 12),
    days,
    traffic,
    userpilot: {
      rowsPerMinute: 1_200,
      queueMs: 200,
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
      jobFailureRate: 0,
    },
    object: { evictionsPerHour: 0, lateAlarm: 0, lateAlarmMaxMs: 0, doubleAlarm: 0, callFails: 0 },
    queue: { sendFailure: 0, duplicate: 0, ackLost: 0, crash: 0, concurrency: 1 },
    gateway: { isolates: 1, skewMs: 0, stepsBack: false, guardUnavailable: 0, deleteCallFails: 0 },
    env: { POLL_INTERVAL_MS: "5000", BACKOFF_BASE_MS: "1000", BACKOFF_MAX_MS: "60000" },
    limits: { ...ENGINE_LIMITS, requestTimeoutMs: SIM_REQUEST_TIMEOUT_MS },
    enabled: ["a script"],
    ...patch,
  };
}

/** Draw the scenario of `seed`, `days` long at most. */
export function drawScenario(seed: number, maxDays: number): Scenario {
  const r = new Random(seed ^ 0x5eed);
  const enabled: string[] = [];
  const on = (name: string, p = 0.5): boolean => {
    const yes = r.chance(p);
    if (yes) enabled.push(name);
    return yes;
  };
  const days = Math.max(1, Math.min(maxDays, r.chance(0.3) ? maxDays : r.int(1, Math.max(1, maxDays))));
  const start = Date.UTC(2026, r.int(0, 11), r.int(1, 28), r.int(0, 23), r.int(0, 59));
  const span = days * DAY;
  const windows = (count: number, maxLength: number) =>
    Array.from({ length: count }, () => {
      const from = start + r.next() * span;
      return { from, to: from + r.next() * maxLength };
    });

  const bulk = on("bulk bodies", 0.5);
  const hot = on("hot users", 0.4);
  const track = on("events", 0.6);
  const deletes = on("deletes", 0.5);
  const companies = on("companies", 0.5);
  const ids = on("request ids", 0.6);
  const poison = on("poison rows", 0.35);
  const operator = on("operator", 0.5);
  const manyUsers = on("a million users", 0.1);
  const traffic: Traffic = {
    users: manyUsers ? 1_000_000 : r.pick([5, 50, 500, 5_000]),
    companies: r.pick([3, 20, 200]),
    identifyPerHour: r.pick([6, 30, 120, 600]) / Math.sqrt(days),
    bulkPerDay: bulk ? r.pick([0.5, 2, 8]) : 0,
    bulkRows: r.pick([10, 200, 2_000, 10_000]),
    companyPerHour: companies ? r.pick([2, 20]) : 0,
    hotUsers: hot ? r.int(1, 5) : 0,
    hotShare: hot ? r.pick([0.3, 0.7, 0.95]) : 0,
    trackPerHour: track ? r.pick([10, 60, 600]) / Math.sqrt(days) : 0,
    trackUnknownShare: track ? r.pick([0, 0.05, 0.3]) : 0,
    deletesPerDay: deletes ? r.pick([1, 5, 30]) : 0,
    reidentify: deletes ? r.pick([0, 0.5, 0.9]) : 0,
    withRequestId: ids ? r.pick([0.3, 0.9]) : 0,
    sentTwice: ids && on("requests sent twice", 0.5) ? r.pick([0.05, 0.3]) : 0,
    reuseAfterWindow: ids && on("request ids reused after a day", 0.4) ? r.pick([0.02, 0.2]) : 0,
    poison: poison ? Array.from({ length: r.int(1, 4) }, (_, i) => `poison-${i}`) : [],
    poisonFailsJob: r.chance(0.5),
    operatorPerDay: operator ? r.pick([0.5, 2, 6]) : 0,
    activeHoursPerDay: r.pick([1, 4, 24]),
    burstsPerDay: 0, // drawn last (below)
  };

  const userpilot = {
    rowsPerMinute: r.pick([1_200, 1_200, 6_000, 60_000]),
    queueMs: r.pick([200, 200, 5_000, 60_000]),
    latencyMs: r.pick([5, 50, 400]),
    rate429: on("429s", 0.4) ? r.pick([0.02, 0.2]) : 0,
    retryAfterSeconds: r.pick([0, 1, 30, 120]),
    rate5xx: on("5xx", 0.4) ? r.pick([0.02, 0.2]) : 0,
    dropBefore: on("connections dropped", 0.3) ? r.pick([0.02, 0.1]) : 0,
    dropAfter: on("answers lost", 0.4) ? r.pick([0.02, 0.1]) : 0,
    hang: on("hung requests", 0.25) ? r.pick([0.01, 0.05]) : 0,
    forgetJob: on("jobs forgotten", 0.2) ? r.pick([0.02, 0.1]) : 0,
    outages: on("outages", 0.4)
      ? windows(r.int(1, 3), r.pick([30_000, 10 * MINUTE, 3 * HOUR, 2 * DAY])).map((w) => ({
        ...w,
        kind: r.pick(["refuse", "5xx"] as const),
      }))
      : [],
    revoked: on("a revoked key", 0.2) ? windows(1, HOUR) : [],
    slow: on("slow jobs", 0.2)
      ? windows(r.int(1, 2), 6 * HOUR).map((w) => ({ ...w, factor: r.pick([5, 50]) }))
      : [],
    jobFailureRate: on("failed jobs", 0.3) ? r.pick([0.05, 0.3]) : 0,
  };

  const object: { -readonly [K in keyof ObjectFaults]: ObjectFaults[K] } = {
    evictionsPerHour: on("evictions", 0.5) ? r.pick([0.5, 5, 60]) : 0,
    lateAlarm: on("late alarms", 0.3) ? 0.2 : 0,
    lateAlarmMaxMs: r.pick([1_000, 60_000, 10 * MINUTE]),
    doubleAlarm: on("double alarms", 0.3) ? 0.1 : 0,
    callFails: 0, // drawn last (below), so the draws before it are those of earlier scenarios
  };
  const queue: QueueFaults = {
    sendFailure: on("queue sends fail", 0.3) ? r.pick([0.01, 0.1]) : 0,
    duplicate: on("duplicate batches", 0.4) ? r.pick([0.02, 0.2]) : 0,
    ackLost: on("acks lost", 0.3) ? r.pick([0.02, 0.2]) : 0,
    crash: on("consumer crashes", 0.3) ? r.pick([0.02, 0.2]) : 0,
    concurrency: on("batches out of order", 0.4) ? r.int(2, 5) : 1,
  };
  const gateway: GatewayFaults = {
    isolates: r.int(1, 4),
    skewMs: on("clock skew", 0.3) ? r.pick([5, 500]) : 0,
    stepsBack: on("clocks stepping back", 0.2),
    guardUnavailable: on("replay guard unavailable", 0.2) ? 0.05 : 0,
    deleteCallFails: deletes && on("delete calls fail", 0.2) ? 0.1 : 0,
  };
  // Rare paths made common (in the manner of BUGGIFY): small jobs, small batches, short windows.
  const shrink = on("small limits", 0.6);
  const limits: EngineLimits = shrink
    ? {
      maxRowsPerJob: r.pick([1, 3, 20, 500]),
      batch: r.pick([1, 5, 50]),
      deleteBatchIds: r.pick([1, 3, 50]),
      eventsPerRound: r.pick([1, 3, 10]),
      purgeEveryMs: r.pick([1_000, 60_000]),
      requestTimeoutMs: SIM_REQUEST_TIMEOUT_MS,
      retention: { ...ENGINE_LIMITS.retention, settledRowsMs: r.pick([HOUR, 5 * MINUTE]) },
    }
    : { ...ENGINE_LIMITS, requestTimeoutMs: SIM_REQUEST_TIMEOUT_MS };
  const env: Record<string, string> = {
    POLL_INTERVAL_MS: String(r.pick([1_000, 5_000, 5_000, 5_000])),
    BACKOFF_BASE_MS: String(r.pick([100, 1_000])),
    BACKOFF_MAX_MS: String(r.pick([5_000, 60_000, 60_000, 60_000])),
    ROWS_PER_MINUTE: String(userpilot.rowsPerMinute),
    EVENT_HOLD_MS: String(r.pick([2_000, 10_000])),
    RESEND_AFTER_HOURS: String(r.pick([1, 168])),
    FORGET_AFTER_DAYS: String(r.pick([1, 90])),
  };
  object.callFails = on("object calls fail", 0.3) ? r.pick([0.02, 0.1]) : 0;
  const bursts = traffic.hotUsers > 0 && on("bursts", 0.6) ? r.pick([2, 12, 48]) : 0;
  return {
    seed,
    start,
    days,
    traffic: { ...traffic, burstsPerDay: bursts },
    userpilot,
    object,
    queue,
    gateway,
    env,
    limits,
    enabled,
  };
}
