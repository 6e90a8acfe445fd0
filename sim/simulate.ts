/**
 * One seed, simulated: the scenario's traffic and faults for its days (the safety phase, with
 * every table invariant checked all the way), then calm (the liveness phase: the backlog must
 * drain within a bound the scenario gives), then Userpilot's state checked against the reference
 * model. A failure names the seed, what it enabled, the first invariant broken and the events
 * just before it. `Simulation` is also driven by scripts: the named regression cases.
 * @module
 */
import process from "node:process";
import { consumeBatch } from "../src/worker/consumer.ts";
import type { Log } from "../src/worker/log.ts";
import { DELETION_RUN_MS } from "../src/worker/retention.ts";
import { readSettings } from "../src/worker/settings.ts";
import { fieldKey, finalChecks, LaneWatch, type Purged, retentionKept, tableInvariants } from "./checks.ts";
import { SimulatedObject } from "./host.ts";
import { ReferenceModel } from "./model.ts";
import { SimulatedQueue } from "./queue.ts";
import { drawScenario, type Scenario } from "./scenario.ts";
import { sendUntilAccepted, type SimRequest, SimulatedGateway, TrafficSource } from "./traffic.ts";
import { API_KEY, CALM, SimulatedUserpilot } from "./userpilot.ts";
import { World } from "./world.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Most requests one seed sends: the traffic's rates are scaled down to fit. */
const MAX_REQUESTS = 800;
/** Most jobs' worth of rows in the bulk bodies of one seed (and never more than 30,000 rows). */
const MAX_BULK_JOBS = 120;
/** Table invariants are checked after this many events. */
const CHECK_EVERY = 25;

/** What one seed came to. */
export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly scenario: Scenario;
  readonly problems: string[];
  /** When the first problem was seen, and the events just before it. */
  readonly at: string | null;
  readonly trace: string[];
  readonly stats: {
    readonly days: number;
    readonly events: number;
    readonly requests: number;
    readonly rowsQueued: number;
    readonly evictions: number;
    readonly userpilot: Record<string, number>;
    readonly profilesChecked: number;
    readonly eventsChecked: number;
    readonly eventRepeats: number;
    /** Events that reached Userpilot after a later one of their user, having reached the object only after it had gone. */
    readonly eventsLate: number;
    readonly maxDatabaseBytes: number;
    readonly drainMinutes: number;
  };
}

type SetAsideEntry = { seq: number; kind: string; id: string; row: string; fields: string | null };

/** A set-aside entry purged (by an operator, or by its retention): what it held is no longer owed. */
function forgive(purged: Purged, entry: SetAsideEntry): void {
  const parsed = entry.fields === null ? {} : JSON.parse(entry.fields);
  if (entry.kind === "events") purged.events.add(parsed.eventId);
  else if (entry.kind === "deletions") {
    purged.deletes.add(`${JSON.parse(entry.row).kind}/${entry.id}/${parsed.deletedAt}`);
  } else {
    for (const [name, [value, ts]] of Object.entries(parsed as Record<string, [unknown, number]>)) {
      purged.fields.add(fieldKey(entry.kind, entry.id, name, value, ts));
      if (entry.kind === "users" && name === "@") {
        purged.identifies.set(entry.id, Math.max(ts, purged.identifies.get(entry.id) ?? ts));
      }
    }
  }
}

/** Options of one run. */
export interface SimOptions {
  /** Most days of traffic (the scenario draws its own, up to this). */
  readonly maxDays: number;
}

/** A simulated world built from a scenario: Userpilot, the object, the Queues, the gateway, the callers. */
export class Simulation {
  readonly scenario: Scenario;
  readonly world: World;
  readonly userpilot: SimulatedUserpilot;
  readonly object: SimulatedObject;
  readonly queue: SimulatedQueue;
  readonly deadLetter: SimulatedQueue;
  readonly gateway: SimulatedGateway;
  readonly model: ReferenceModel = new ReferenceModel();
  readonly traffic: TrafficSource;
  readonly problems: string[] = [];
  readonly purged: Purged = {
    fields: new Set(),
    events: new Set(),
    deletes: new Set(),
    identifies: new Map(),
  };
  readonly outcomes: Record<string, number> = {};
  callers = 0;
  requests = 0;
  rowsQueued = 0;
  calm = false;
  maxDatabaseBytes = 0;
  #firstAt: string | null = null;
  #trace: string[] = [];
  #sinceCheck = 0;
  readonly #lanes = new LaneWatch();
  /** Every entry ever set aside (by seq, as first seen), for what the retention rule expires. */
  readonly #aside = new Map<number, SetAsideEntry>();
  #asideSeq = 0;

  private constructor(scenario: Scenario) {
    this.scenario = scenario;
    const world = new World(scenario.seed, scenario.start);
    this.world = world;
    const trace = process.env["SIM_TRACE"] === "1";
    const log: Log = (level, event, fields = {}) => {
      if (trace) world.note(`${level} ${event} ${JSON.stringify(fields)}`);
      else if (level !== "info") world.note(`${level} ${event} ${JSON.stringify(fields).slice(0, 200)}`);
      if (event === "job_submitted" || event === "job_completed") {
        this.#lanes.saw(event, fields["lane"] as string);
      }
      // A submission Userpilot refused (no job created) was that lane's turn too (seed 1045, 90
      // days: a poison row refused alone, again and again, in the suspect lane).
      if (event === "delivery_failure" && fields["lane"] !== undefined && fields["jobId"] === null) {
        this.#lanes.saw("job_submitted", fields["lane"] as string);
      }
      // Set aside longer than the retention rule keeps it, nobody redrove it: no longer owed.
      if (event === "set_aside_expired") {
        for (const seq of fields["seqs"] as number[]) {
          const entry = this.#aside.get(seq);
          if (entry === undefined) this.fail(`set-aside entry ${seq} expired before it was ever seen`);
          else forgive(this.purged, entry);
        }
      }
    };
    this.userpilot = new SimulatedUserpilot(world, {
      rowsPerMinute: scenario.userpilot.rowsPerMinute,
      queueMs: scenario.userpilot.queueMs,
      faults: scenario.userpilot,
    });
    const settings = readSettings({
      USERPILOT_API_KEY: API_KEY,
      USERPILOT_BASE_URL: "https://userpilot.sim",
      INGEST_KEYS: "sim-ingest-key-0123456789abcdef0123456789",
      ...scenario.env,
    });
    if (!settings.ok) throw new Error(`the scenario's settings are wrong: ${settings.problems.join("; ")}`);
    const model = this.model;
    const object = new SimulatedObject(
      world,
      { fetch: this.userpilot.fetch, settings: () => settings, log, limits: scenario.limits },
      scenario.object,
    );
    this.object = object;
    const consumer = (batch: Parameters<typeof consumeBatch>[0]) =>
      consumeBatch(batch, {
        enqueue: async (messages) => {
          const fails = world.random.chance(object.faults.callFails);
          if (fails && world.random.chance(0.5)) {
            throw new Error("sim: the call to the object failed before it ran");
          }
          for (const message of messages) {
            if (message.kind === "events") {
              model.reachedObject(message.events.map((e) => e.eventId), world.now);
            }
          }
          const rows = await object.call((engine) => engine.enqueue(messages));
          if (fails) throw new Error("sim: the call to the object ran, but its answer was lost");
          return rows;
        },
      }, log);
    this.deadLetter = new SimulatedQueue(
      world,
      { name: "userpilot-ingest-dlq", maxBatchSize: 100, maxBatchTimeoutMs: 2_000, maxRetries: 100 },
      consumer,
      scenario.queue,
    );
    this.queue = new SimulatedQueue(
      world,
      { name: "userpilot-ingest", maxBatchSize: 100, maxBatchTimeoutMs: 2_000, maxRetries: 10 },
      consumer,
      scenario.queue,
      this.deadLetter,
    );
    this.queue.onSent.push((body) => {
      model.message(body);
      if (body.kind !== "events") this.rowsQueued += body.rows.length;
    });
    this.gateway = new SimulatedGateway(world, { queue: this.queue, object, model, log }, scenario.gateway);
    this.traffic = new TrafficSource(world.random.fork(), scenario);
  }

  /** A simulation of `scenario`, with Userpilot's own faults (failed jobs, refused ids) set. */
  static async create(scenario: Scenario): Promise<Simulation> {
    const simulation = new Simulation(scenario);
    await simulation.refuse(scenario.traffic.poison, scenario.userpilot.jobFailureRate);
    return simulation;
  }

  /** Make Userpilot refuse (or fail jobs at) these ids, and fail jobs at this rate. */
  async refuse(ids: readonly string[], jobFailureRate = 0): Promise<void> {
    const failsJob = this.scenario.traffic.poisonFailsJob;
    await this.userpilot.inspect("/faults", {
      jobFailureRate,
      refuseIds: failsJob ? [] : ids,
      failIds: failsJob ? ids : [],
    });
  }

  /** Record a broken invariant (the first one keeps the time and the trace). */
  fail(problem: string): void {
    if (this.problems.length === 0) {
      this.#firstAt = new Date(this.world.now).toISOString();
      this.#trace = this.world.trace();
    }
    if (this.problems.length < 20) this.problems.push(problem);
  }

  get failed(): boolean {
    return this.problems.length > 0;
  }

  /** A caller sends `request` until it is accepted; `then` runs once it is. */
  send(request: SimRequest, then?: () => void): void {
    const { world, gateway, outcomes } = this;
    this.requests++;
    this.callers++;
    world.note(`request ${request.label}${request.requestId ? ` (${request.requestId})` : ""}`);
    void sendUntilAccepted(world, gateway, request, outcomes).then((outcome) => {
      this.callers--;
      if (outcome.status === 202) then?.();
    });
    if (request.requestId !== undefined && world.random.chance(this.scenario.traffic.sentTwice)) {
      // The same request again at once (a caller that retried early): applied once.
      this.callers++;
      void sendUntilAccepted(world, gateway, request, outcomes).then(() => this.callers--);
    }
  }

  /** An operator's action on the page or the admin routes. */
  async operate(action: "redrive" | "purge" | "forget"): Promise<void> {
    const { world, object, purged } = this;
    world.note(`operator ${action}`);
    try {
      if (action === "redrive") await object.call((engine) => engine.redrive({ all: true }));
      if (action === "forget") await object.call((engine) => engine.forgetFingerprints({ all: true }));
      if (action === "purge") {
        const entries = object.storage.sql.exec<SetAsideEntry>(
          "SELECT seq, kind, id, row, fields FROM set_aside",
        )
          .toArray().filter(() => world.random.chance(0.5));
        if (entries.length === 0) return;
        for (const entry of entries) forgive(purged, entry);
        await object.call((engine) => engine.purgeSetAside({ seqs: entries.map((entry) => entry.seq) }));
      }
    } catch {
      // The object was reset mid-action: the operator sees an error and may try again later.
    }
  }

  /** Userpilot's daily deletion job, at 02:00 UTC from the start on. */
  runDeletionJobs(): void {
    const { world, scenario } = this;
    const run = (at: number) =>
      world.at(at, "deletion job", () => {
        void this.userpilot.inspect("/run-deletions", {});
        run(at + DAY);
      });
    run(Math.ceil((scenario.start - 2 * HOUR) / DAY) * DAY + 2 * HOUR);
  }

  /** After every few events: the object's tables agree with themselves, and its size is noted. */
  readonly check = (): void => {
    if (++this.#sinceCheck < CHECK_EVERY) return;
    this.#sinceCheck = 0;
    for (const problem of tableInvariants(this.object.storage)) this.fail(problem);
    for (const problem of this.#lanes.check(this.object.storage)) this.fail(problem);
    this.#noteSetAside();
    this.maxDatabaseBytes = Math.max(this.maxDatabaseBytes, this.object.storage.sql.databaseSize);
  };

  /** Remember the entries set aside since the last look. */
  #noteSetAside(): void {
    const sql = this.object.storage.sql;
    if (
      this.#asideSeq === 0 &&
      sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'set_aside'").toArray().length === 0
    ) {
      return;
    }
    for (
      const entry of sql.exec<SetAsideEntry>(
        "SELECT seq, kind, id, row, fields FROM set_aside WHERE seq > ? ORDER BY seq",
        this.#asideSeq,
      ).toArray()
    ) {
      this.#aside.set(entry.seq, entry);
      this.#asideSeq = entry.seq;
    }
  }

  /** Run the world until `end`, or until something breaks or `until` holds. */
  run(end: number, until: () => boolean = () => false): Promise<void> {
    return this.world.runUntil(end, () => this.failed || until(), this.check);
  }

  /** What is pending, but for what waits on an operator (behind a row set aside). */
  pending(): number {
    return this.object.storage.sql.exec<{ n: number }>(
      `SELECT (SELECT count(*) FROM rows WHERE pending_since IS NOT NULL) + (SELECT count(*) FROM events e
         WHERE delivered_at IS NULL AND NOT EXISTS (SELECT 1 FROM set_aside s WHERE s.kind = 'users'
           AND s.id = e.user_id)) + (SELECT count(*) FROM deletions WHERE forwarded_at IS NULL) AS n`,
    ).one().n;
  }

  /** Nothing pending, queued, in flight, or waiting to be accepted. */
  drained(): boolean {
    const sql = this.object.storage.sql;
    const opened = sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'rows'").toArray().length > 0;
    return this.callers === 0 && this.queue.size === 0 && this.deadLetter.size === 0 &&
      (!opened ||
        (this.pending() === 0 &&
          sql.exec<{ n: number }>("SELECT count(*) AS n FROM inflight").one().n === 0));
  }

  /**
   * The liveness phase: faults stop and traffic stops (but for a trickle while refused rows wait
   * to be weighed); the backlog must drain within its bound. Returns how long it took.
   */
  async runLiveness(): Promise<number> {
    const { world, scenario, object, userpilot } = this;
    this.calm = true;
    userpilot.faults = CALM;
    object.faults = { evictionsPerHour: 0, lateAlarm: 0, lateAlarmMaxMs: 0, doubleAlarm: 0, callFails: 0 };
    this.queue.faults = this.deadLetter.faults = {
      ...scenario.queue,
      sendFailure: 0,
      duplicate: 0,
      ackLost: 0,
      crash: 0,
    };
    this.gateway.faults = { ...scenario.gateway, guardUnavailable: 0, deleteCallFails: 0, stepsBack: false };
    const poison = scenario.traffic.poison;
    await this.refuse(poison);
    if (poison.length > 0 && world.random.chance(0.5)) {
      // The operator finds why those rows were refused, has it fixed, and redrives them.
      await this.refuse([]);
      world.after(MINUTE, "operator", () => void this.operate("redrive"));
    }
    // Rows Userpilot refuses are set aside only while other jobs complete (else Userpilot may be
    // the one at fault): traffic goes on, lightly, while such rows wait, as it would in production.
    let trickle = 0;
    const refusedWaiting = () =>
      poison.length > 0 && object.storage.sql.exec(
          `SELECT 1 FROM rows WHERE pending_since IS NOT NULL AND id IN (${
            poison.map(() => "?").join(",")
          }) LIMIT 1`,
          ...poison,
        ).toArray().length > 0;
    // Deletes Userpilot refused alone, waiting to be weighed against others that go through (seed
    // 1086, 90 days: two, and no other delete after them, held their users' rows through the calm).
    const refusedDeleteWaiting = () =>
      object.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'deletions'").toArray().length > 0 &&
      object.storage.sql.exec("SELECT 1 FROM deletions WHERE forwarded_at IS NULL AND solo_count > 0 LIMIT 1")
          .toArray().length > 0;
    const keepTraffic = () =>
      world.after(5 * MINUTE, "trickle", () => {
        if (this.failed) return;
        if (refusedWaiting()) this.send(this.traffic.calm(world.now, trickle++));
        if (refusedDeleteWaiting()) this.send(this.traffic.calmDelete(world.now, trickle++));
        keepTraffic();
      });
    keepTraffic();
    const calmAt = world.now;
    const bound = drainBound(scenario, this.pending()) + (this.model.deleted ? DELETION_RUN_MS : 0);
    await this.run(calmAt + bound, () => world.now > calmAt + MINUTE && this.drained());
    if (process.env["SIM_DEBUG"] === "1") this.#dump();
    if (!this.failed && !this.drained()) {
      this.fail(
        `the backlog did not drain within ${
          Math.round(bound / MINUTE)
        } minutes of calm: ${this.pending()} pending, ` +
          `${this.queue.size + this.deadLetter.size} messages queued, ${this.callers} callers waiting`,
      );
    }
    const drainMinutes = (world.now - calmAt) / MINUTE;
    // Past Userpilot's deletion window (and its daily job), then drained again: the final state.
    if (!this.failed) {
      await this.run(world.now + DELETION_RUN_MS + DAY);
      await this.run(world.now + bound, () => this.drained());
      // Storage: one more identify wakes the object past every window; what it keeps then is only
      // what its retention allows. Checked once the alarm it set has run (the identify may merge
      // nothing: a message delayed past a short retention is set aside as late).
      const wake = world.now;
      this.send(this.traffic.calm(wake, trickle++));
      await this.run(
        world.now + bound,
        () => world.now > wake + MINUTE && this.drained() && !object.alarmDue(world.now),
      );
      for (const problem of retentionKept(object.storage, wake, scenario.limits.retention)) {
        this.fail(problem);
      }
    }
    return drainMinutes;
  }

  /** The checks of a drained world: nothing lost by the Queue, Userpilot as the model says. */
  async finalChecks(): Promise<{ repeats: number; late: number; checked: number; eventsChecked: number }> {
    if (this.failed) return { repeats: 0, late: 0, checked: 0, eventsChecked: 0 };
    for (const body of [...this.queue.dropped, ...this.deadLetter.dropped]) {
      this.fail(
        `the Queue deleted a message after every retry: ${body.kind}, accepted ${
          new Date(body.receivedAt).toISOString()
        }`,
      );
    }
    this.#noteSetAside();
    const eventsSetAside = new Set(
      [...this.#aside.values()].filter((entry) => entry.kind === "events").map((entry) =>
        (JSON.parse(entry.fields!) as { eventId: string }).eventId
      ),
    );
    const final = await finalChecks(
      this.model,
      this.userpilot,
      this.object.storage,
      this.purged,
      eventsSetAside,
    );
    for (const problem of final.problems) this.fail(problem);
    return final;
  }

  /** The result, as the CLI reports it. */
  result(
    drainMinutes: number,
    final: { repeats: number; late: number; checked: number; eventsChecked: number },
  ): SimResult {
    return {
      seed: this.scenario.seed,
      ok: !this.failed,
      scenario: this.scenario,
      problems: this.problems,
      at: this.#firstAt,
      trace: this.#trace,
      stats: {
        days: this.scenario.days,
        events: this.world.eventsRun,
        requests: this.requests,
        rowsQueued: this.rowsQueued,
        evictions: this.object.evictions,
        userpilot: this.userpilot.counts,
        profilesChecked: final.checked,
        eventsChecked: final.eventsChecked,
        eventRepeats: final.repeats,
        eventsLate: final.late,
        maxDatabaseBytes: this.maxDatabaseBytes,
        drainMinutes,
      },
    };
  }

  #dump(): void {
    const dump = (query: string) =>
      console.error(JSON.stringify(this.object.storage.sql.exec(query).toArray()));
    dump(
      "SELECT kind, id, fields, sent, pending_since, suspect_limit, solo_count FROM rows WHERE pending_since IS NOT NULL LIMIT 3",
    );
    dump(
      "SELECT seq, user_id, accepted_at, retry_at, solo_count FROM events WHERE delivered_at IS NULL LIMIT 3",
    );
    dump("SELECT * FROM deletions WHERE forwarded_at IS NULL LIMIT 3");
    dump("SELECT key, value FROM meta");
    const alarm = this.object.alarm;
    console.error(
      new Date(this.world.now).toISOString(),
      "alarm",
      alarm === null ? null : new Date(alarm).toISOString(),
    );
  }
}

/** Simulate one seed: its scenario's traffic and faults, then calm, then the checks. */
export async function simulate(seed: number, options: SimOptions): Promise<SimResult> {
  const simulation = await Simulation.create(drawScenario(seed, options.maxDays));
  const { world, scenario, traffic } = simulation;
  simulation.runDeletionJobs();
  // The safety phase's traffic: Poisson arrivals in each day's active hours, scaled to the budget.
  const end = scenario.start + scenario.days * DAY;
  const t = scenario.traffic;
  const perHour = {
    identify: t.identifyPerHour,
    company: t.companyPerHour,
    track: t.trackPerHour,
    bulk: t.bulkPerDay / t.activeHoursPerDay,
    delete: t.deletesPerDay / t.activeHoursPerDay,
    operator: t.operatorPerDay / t.activeHoursPerDay,
    burst: t.burstsPerDay / t.activeHoursPerDay,
  };
  const activeHours = scenario.days * t.activeHoursPerDay;
  // (A burst is a dozen requests or so.)
  const expected =
    Object.entries(perHour).reduce((a, [kind, rate]) => a + rate * (kind === "burst" ? 12 : 1), 0) *
    activeHours;
  const scale = Math.min(1, MAX_REQUESTS / Math.max(1, expected));
  const maxBulkRows = Math.min(30_000, MAX_BULK_JOBS * scenario.limits.maxRowsPerJob);
  const bulkScale = Math.min(1, maxBulkRows / Math.max(1, perHour.bulk * activeHours * (t.bulkRows / 2)));
  const arrivals = world.random.fork();
  const arrive = (kind: string) => {
    const now = world.now;
    switch (kind) {
      case "identify":
        return simulation.send(traffic.identify(now));
      case "company":
        return simulation.send(traffic.company(now));
      case "track":
        return simulation.send(traffic.track(now));
      case "bulk":
        return simulation.send(traffic.bulk(now));
      case "delete": {
        const request = traffic.delete(now);
        const again = world.random.chance(t.reidentify);
        return simulation.send(request, () => {
          if (!again) return;
          world.after(world.random.exp(10 * MINUTE), "re-identify", () => {
            const back = traffic.reidentify(request, world.now);
            if (back !== undefined && !simulation.calm) simulation.send(back);
          });
        });
      }
      case "operator":
        return void simulation.operate(world.random.pick(["redrive", "purge", "forget"] as const));
      case "burst":
        // A page firing update after update: the hot users, within a couple of seconds.
        for (let i = world.random.int(5, 20); i > 0; i--) {
          world.after(world.random.int(0, 2_000), "burst", () => {
            if (!simulation.calm) simulation.send(traffic.identify(world.now, true));
          });
        }
        return;
    }
  };
  for (let day = 0; day < scenario.days; day++) {
    const from = scenario.start + day * DAY + arrivals.int(0, 24 - t.activeHoursPerDay) * HOUR;
    const to = from + t.activeHoursPerDay * HOUR;
    for (const [kind, rate] of Object.entries(perHour)) {
      const hourly = rate * (kind === "bulk" ? bulkScale * scale : scale);
      if (hourly <= 0) continue;
      for (let at = from + arrivals.exp(HOUR / hourly); at < to; at += arrivals.exp(HOUR / hourly)) {
        world.at(at, kind, () => {
          if (!simulation.calm) arrive(kind);
        });
      }
    }
  }
  await simulation.run(end);
  const drainMinutes = simulation.failed ? 0 : await simulation.runLiveness();
  if (process.env["SIM_DEBUG"] === "1") console.error(JSON.stringify([...world.labels]));
  return simulation.result(drainMinutes, await simulation.finalChecks());
}

/**
 * How long the backlog may take to drain once faults stop: jobs at Userpilot's rate with their
 * allowance, the longest backoff, events at the track pace, deletes at one every 2 seconds, and
 * the polls and queue hand-overs in between, generously.
 */
function drainBound(scenario: Scenario, pendingRows: number): number {
  const rowsPerMinute = scenario.userpilot.rowsPerMinute;
  const backoffMax = Number(scenario.env["BACKOFF_MAX_MS"]);
  const jobs = Math.ceil(pendingRows / scenario.limits.maxRowsPerJob) + 10;
  return 30 * MINUTE + 3 * (pendingRows / rowsPerMinute) * MINUTE +
    jobs * (scenario.userpilot.queueMs + 2 * backoffMax) + 2 * HOUR;
}
