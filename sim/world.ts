/**
 * The simulated world: one virtual clock and a queue of timed events. The simulator pops the
 * next event, moves the clock to it, runs it, and lets every promise it settled run to its next
 * wait before the next event: nothing reads the real clock or the real timers, so a seed replays
 * exactly.
 * @module
 */
import process from "node:process";
import { setImmediate } from "node:timers";
import { Random } from "./random.ts";

interface Timed {
  readonly at: number;
  readonly seq: number;
  readonly label: string;
  readonly run: () => void;
}

/** A binary heap of events, earliest first (ties in the order they were scheduled). */
class EventHeap {
  readonly #items: Timed[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(item: Timed): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  peek(): Timed | undefined {
    return this.#items[0];
  }

  pop(): Timed | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && before(items[left]!, items[smallest]!)) smallest = left;
        if (right < items.length && before(items[right]!, items[smallest]!)) smallest = right;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest]!, items[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

const before = (a: Timed, b: Timed): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** Lets every settled promise run on: the microtasks, and whatever they queue. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const DEBUG = process.env["SIM_DEBUG"] === "1";

/** The last events run, for a failure's report. */
const TRACE_LENGTH = 40;
/** SIM_TRACE=1: every note (and every log line of the endpoint) is printed as it happens. */
const TRACE = process.env["SIM_TRACE"] === "1";

/** The clock, the randomness and the event queue of one simulated run. */
export class World {
  now: number;
  readonly random: Random;
  readonly #events = new EventHeap();
  #seq = 0;
  #ran = 0;
  readonly #trace: string[] = [];
  /** Events run by label (when SIM_DEBUG is set). */
  readonly labels = new Map<string, number>();

  constructor(seed: number, start: number) {
    this.random = new Random(seed);
    this.now = start;
  }

  /** Events run so far. */
  get eventsRun(): number {
    return this.#ran;
  }

  /** Run `run` at `at` (never before now). */
  at(at: number, label: string, run: () => void): void {
    this.#events.push({ at: Math.max(at, this.now), seq: this.#seq++, label, run });
  }

  /** Run `run` after `ms`. */
  after(ms: number, label: string, run: () => void): void {
    this.at(this.now + ms, label, run);
  }

  /** A promise that resolves after `ms` of simulated time. */
  sleep(ms: number, label = "sleep"): Promise<void> {
    return new Promise((resolve) => this.after(ms, label, resolve));
  }

  /** Note something in the trace (the recent past a failure report shows). */
  note(text: string): void {
    const line = `${new Date(this.now).toISOString()} ${text}`;
    if (TRACE) console.error(line);
    this.#trace.push(line);
    if (this.#trace.length > TRACE_LENGTH) this.#trace.shift();
  }

  /** The recent past, oldest first. */
  trace(): string[] {
    return [...this.#trace];
  }

  /** Run events until the clock would pass `end` or `stop` says so; then the clock is at `end`. */
  async runUntil(end: number, stop: () => boolean = () => false, onEvent?: () => void): Promise<void> {
    for (;;) {
      const next = this.#events.peek();
      if (next === undefined || next.at > end || stop()) break;
      this.#events.pop();
      this.now = next.at;
      this.#ran++;
      if (DEBUG) this.labels.set(next.label, (this.labels.get(next.label) ?? 0) + 1);
      if (DEBUG && this.#ran % 20_000 === 0) {
        console.error(`${this.#ran} events, at ${new Date(this.now).toISOString()}: ${next.label}`);
      }
      next.run();
      await settle();
      onEvent?.();
    }
    if (!stop()) this.now = Math.max(this.now, end);
  }

  /** Whether any event is scheduled. */
  get idle(): boolean {
    return this.#events.size === 0;
  }
}
