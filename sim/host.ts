/**
 * The Durable Object's platform, simulated: one instance of the delivery engine at a time over a
 * SQLite database that outlives it, the object's one alarm (kept across restarts, run again if a
 * run is cut short), and evictions at any await: the instance's memory is gone, its pending work
 * never resumes, and callers waiting on it get an error, as in workerd.
 * @module
 */
import { DeliveryEngine, type EngineDeps } from "../src/worker/delivery/engine.ts";
import type { Log } from "../src/worker/log.ts";
import type { SettingsResult } from "../src/worker/settings.ts";
import { SqliteStorage } from "./sqlite-storage.ts";
import type { World } from "./world.ts";

/** What the platform does wrong with the object. */
export interface ObjectFaults {
  /** Evictions per hour (at random moments, including in the middle of an alarm or a call). */
  readonly evictionsPerHour: number;
  /** Chance an alarm fires late, and by up to how long. */
  readonly lateAlarm: number;
  readonly lateAlarmMaxMs: number;
  /** Chance an alarm that ran fires once more right after. */
  readonly doubleAlarm: number;
  /**
   * Chance a Queue consumer's call to the object fails (as a Durable Object call can: the object
   * reset, the connection lost): half of the time before the object ran it, half after.
   */
  readonly callFails: number;
}

/** The object was reset while a call was waiting on it. */
export class ObjectResetError extends Error {
  override name = "ObjectResetError";
}

/** workerd retries an alarm whose run did not complete, after this (then longer). */
const ALARM_RETRY_MS = 2_000;

/** One simulated Durable Object. */
export class SimulatedObject {
  readonly storage: SqliteStorage = new SqliteStorage();
  readonly #world: World;
  readonly #deps: Omit<
    EngineDeps,
    "storage" | "clock" | "random" | "alarm" | "pause" | "alertFetch" | "background"
  >;
  faults: ObjectFaults;
  #engine: DeliveryEngine | undefined;
  #epoch = 0;
  #alarm: number | null = null;
  #alarmScheduled: number | null = null;
  #alarmRunning = false;
  #alarmRetries = 0;
  readonly #waiting = new Set<(error: Error) => void>();
  /** Instances started (1 + evictions that were followed by a call). */
  instances = 0;
  evictions = 0;
  alarmsRun = 0;

  constructor(
    world: World,
    deps: {
      fetch: EngineDeps["fetch"];
      settings: () => SettingsResult;
      log: Log;
      limits?: EngineDeps["limits"];
    },
    faults: ObjectFaults,
  ) {
    this.#world = world;
    this.#deps = deps;
    this.faults = faults;
    this.#scheduleEviction();
  }

  /** The engine instance of now, started if the last one was evicted. */
  #instance(): DeliveryEngine {
    if (this.#engine === undefined) {
      const epoch = this.#epoch;
      const world = this.#world;
      const live = <T>(promise: Promise<T>): Promise<T> =>
        // Work of an evicted instance never resumes: its awaits never settle.
        promise.then(
          (value) => (this.#epoch === epoch ? value : new Promise<T>(() => {})),
          (error) => (this.#epoch === epoch ? Promise.reject(error) : new Promise<T>(() => {})),
        );
      this.instances++;
      this.#engine = new DeliveryEngine({
        ...this.#deps,
        storage: this.storage,
        clock: () => world.now,
        random: () => world.random.next(),
        fetch: (request) => live(this.#deps.fetch(request)),
        // The simulated world has no alert receiver (its settings set no ALERT_WEBHOOK_URL).
        alertFetch: () => live(Promise.reject(new Error("the simulator has no alert receiver"))),
        background: (work) => void live(work),
        alarm: {
          get: () => Promise.resolve(this.#alarm),
          set: (at) => {
            if (this.#epoch === epoch) this.#setAlarm(at);
            return Promise.resolve();
          },
        },
        pause: () => live(new Promise<void>((resolve) => world.after(0, "pause", resolve))),
      });
    }
    return this.#engine;
  }

  /**
   * Call the object as an RPC would: the result, or an `ObjectResetError` if the object is evicted
   * before the call returns.
   */
  call<T>(method: (engine: DeliveryEngine) => T | Promise<T>): Promise<T> {
    const engine = this.#instance();
    return new Promise<T>((resolve, reject) => {
      const fail = (error: Error) => reject(error);
      this.#waiting.add(fail);
      Promise.resolve()
        .then(() => method(engine))
        .then(resolve, reject)
        .finally(() => this.#waiting.delete(fail));
    });
  }

  /** Evict the instance now. */
  evict(): void {
    this.evictions++;
    this.#epoch++;
    this.#world.note(`object evicted${this.#alarmRunning ? " (mid-alarm)" : ""}`);
    this.#engine = undefined;
    for (const fail of this.#waiting) fail(new ObjectResetError("the Durable Object was reset"));
    this.#waiting.clear();
    if (this.#alarmRunning) {
      // The run was cut short: workerd runs the alarm again.
      this.#alarmRunning = false;
      this.#alarmRetries++;
      if (this.#alarm === null) {
        this.#alarm = this.#world.now + ALARM_RETRY_MS * 2 ** Math.min(5, this.#alarmRetries);
      }
    }
    this.#scheduleAlarm();
  }

  /** The alarm as stored (`null`: none). */
  get alarm(): number | null {
    return this.#alarm;
  }

  /** Whether the alarm is running, or due by `now` and not yet run. */
  alarmDue(now: number): boolean {
    return this.#alarmRunning || (this.#alarm !== null && this.#alarm <= now);
  }

  #scheduleEviction(): void {
    const perHour = this.faults.evictionsPerHour;
    if (perHour <= 0) return;
    const epoch = this.#epoch;
    this.#world.after(this.#world.random.exp(3_600_000 / perHour), "evict", () => {
      if (this.#epoch === epoch && this.faults.evictionsPerHour > 0) this.evict();
      this.#scheduleEviction();
    });
  }

  /** Keep evicting at the faults' rate from now (after they changed). */
  restartFaults(): void {
    this.#scheduleEviction();
  }

  #setAlarm(at: number): void {
    this.#alarm = at;
    this.#scheduleAlarm();
  }

  #scheduleAlarm(): void {
    const at = this.#alarm;
    if (at === null || this.#alarmRunning || this.#alarmScheduled === at) return;
    this.#alarmScheduled = at;
    const world = this.#world;
    const late = world.random.chance(this.faults.lateAlarm)
      ? world.random.next() * this.faults.lateAlarmMaxMs
      : 0;
    world.at(at + late, "alarm", () => {
      if (this.#alarmScheduled !== at) return; // superseded
      this.#alarmScheduled = null;
      if (this.#alarm !== at || this.#alarmRunning) return;
      void this.#runAlarm();
    });
  }

  async #runAlarm(): Promise<void> {
    this.#alarmRunning = true;
    this.#alarm = null; // a set during the run schedules the next one
    const epoch = this.#epoch;
    this.alarmsRun++;
    try {
      await this.call((engine) => engine.alarm());
      this.#alarmRetries = 0;
    } catch {
      // Evicted mid-run (handled by evict), or the handler threw: workerd retries it.
      if (this.#epoch === epoch && this.#alarm === null) this.#alarm = this.#world.now + ALARM_RETRY_MS;
    }
    if (this.#epoch !== epoch) return;
    this.#alarmRunning = false;
    if (this.#world.random.chance(this.faults.doubleAlarm) && this.#alarm === null) {
      this.#alarm = this.#world.now + 1;
    }
    this.#scheduleAlarm();
  }
}
