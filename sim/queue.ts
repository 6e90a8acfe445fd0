/**
 * A Cloudflare Queue, simulated: at-least-once delivery in batches (up to `maxBatchSize`, or what
 * arrived within `maxBatchTimeoutMs`), several consumer invocations at once (so batches finish out
 * of order), `retryAll` with a delay, and after `maxRetries` the dead-letter queue; past the
 * dead-letter queue's own retries Cloudflare deletes the message, which the simulator counts as a
 * loss. Faults: sends that fail, batches delivered twice, acks lost, invocations that crash.
 * @module
 */
import type { ConsumedBatch } from "../src/worker/consumer.ts";
import type { QueueSender } from "../src/worker/ingest/messages.ts";
import type { QueueMessageBody } from "../src/worker/queue-message.ts";
import type { World } from "./world.ts";

/** What the platform does wrong with the Queue. */
export interface QueueFaults {
  /** A `sendBatch` fails (the caller answers 503). */
  readonly sendFailure: number;
  /** A batch is handed to the consumer twice. */
  readonly duplicate: number;
  /** The consumer acked, but the ack is lost: the batch comes again. */
  readonly ackLost: number;
  /** The consumer's invocation crashes before it runs: the batch is retried. */
  readonly crash: number;
  /** Most consumer invocations at once (1: in order). */
  readonly concurrency: number;
}

interface Held {
  readonly id: number;
  readonly body: QueueMessageBody;
  attempts: number;
  visibleAt: number;
  inFlight: boolean;
}

/** One queue: its settings, as in wrangler.toml. */
export interface QueueConfig {
  readonly name: string;
  readonly maxBatchSize: number;
  readonly maxBatchTimeoutMs: number;
  readonly maxRetries: number;
}

/** A simulated queue and its consumer. */
export class SimulatedQueue implements QueueSender {
  readonly #world: World;
  readonly #config: QueueConfig;
  readonly #consumer: (batch: ConsumedBatch) => Promise<void>;
  readonly #deadLetter: SimulatedQueue | undefined;
  faults: QueueFaults;
  readonly #held: Held[] = [];
  #nextId = 0;
  #running = 0;
  #wakeAt: number | null = null;
  /** Messages the platform deleted after every retry: each one is a loss. */
  readonly dropped: QueueMessageBody[] = [];
  /** Every body accepted by `sendBatch`, in order (what the endpoint queued). */
  readonly onSent: ((body: QueueMessageBody) => void)[] = [];
  batches = 0;

  constructor(
    world: World,
    config: QueueConfig,
    consumer: (batch: ConsumedBatch) => Promise<void>,
    faults: QueueFaults,
    deadLetter?: SimulatedQueue,
  ) {
    this.#world = world;
    this.#config = config;
    this.#consumer = consumer;
    this.faults = faults;
    this.#deadLetter = deadLetter;
  }

  /** Messages held (waiting, in flight, or waiting for a retry). */
  get size(): number {
    return this.#held.length;
  }

  sendBatch(messages: { body: QueueMessageBody }[]): Promise<void> {
    if (this.#world.random.chance(this.faults.sendFailure)) {
      return Promise.reject(new Error("Queue send failed (simulated)"));
    }
    for (const { body } of messages) this.#hold(body, 0);
    return Promise.resolve();
  }

  #hold(body: QueueMessageBody, attempts: number): void {
    this.#held.push({ id: this.#nextId++, body, attempts, visibleAt: this.#world.now, inFlight: false });
    for (const listen of this.onSent) listen(body);
    this.#wake(this.#world.now + this.#config.maxBatchTimeoutMs);
  }

  #wake(at: number): void {
    if (this.#wakeAt !== null && this.#wakeAt <= at) return;
    this.#wakeAt = at;
    this.#world.at(at, `queue ${this.#config.name}`, () => {
      if (this.#wakeAt !== at) return;
      this.#wakeAt = null;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    const world = this.#world;
    while (this.#running < this.faults.concurrency) {
      const ready = this.#held.filter((m) => !m.inFlight && m.visibleAt <= world.now);
      if (ready.length === 0) break;
      const batch = ready.slice(0, this.#config.maxBatchSize);
      for (const m of batch) m.inFlight = true;
      this.#running++;
      this.batches++;
      void this.#deliver(batch).finally(() => {
        this.#running--;
        this.#dispatch();
      });
    }
    // Messages waiting for a retry wake the queue when they are due; those ready now wait for a
    // running batch to finish (which dispatches again).
    const later = this.#held.filter((m) => !m.inFlight && m.visibleAt > world.now);
    if (later.length > 0) this.#wake(Math.min(...later.map((m) => m.visibleAt)));
  }

  async #deliver(batch: Held[]): Promise<void> {
    const world = this.#world;
    const random = world.random;
    if (random.chance(this.faults.crash)) {
      this.#retry(batch, 1);
      return;
    }
    let acked = false;
    let retryDelay: number | undefined;
    const consumed: ConsumedBatch = {
      queue: this.#config.name,
      messages: batch.map((m) => ({ body: m.body, attempts: m.attempts + 1 })),
      // As on Cloudflare, the first call decides: an ack cannot be taken back by a later retry.
      ackAll: () => {
        if (retryDelay === undefined) acked = true;
      },
      retryAll: (options) => {
        if (!acked) retryDelay = options?.delaySeconds ?? 0;
      },
    };
    try {
      await this.#consumer(consumed);
    } catch {
      if (!acked) retryDelay ??= 0;
    }
    if (acked && retryDelay === undefined) {
      if (random.chance(this.faults.ackLost)) {
        this.#retry(batch, 0, false);
        return;
      }
      for (const m of batch) this.#held.splice(this.#held.indexOf(m), 1);
      if (random.chance(this.faults.duplicate)) {
        for (const m of batch) {
          this.#held.push({ ...m, id: this.#nextId++, inFlight: false, visibleAt: world.now });
        }
        this.#wake(world.now + this.#config.maxBatchTimeoutMs);
      }
      return;
    }
    this.#retry(batch, retryDelay ?? 0);
  }

  /** The batch goes again after `delaySeconds`, or to the dead-letter queue past `maxRetries`. */
  #retry(batch: Held[], delaySeconds: number, counts = true): void {
    const world = this.#world;
    for (const m of batch) {
      m.inFlight = false;
      if (counts) m.attempts++;
      m.visibleAt = world.now + delaySeconds * 1000;
      if (m.attempts > this.#config.maxRetries) {
        this.#held.splice(this.#held.indexOf(m), 1);
        if (this.#deadLetter !== undefined) this.#deadLetter.#hold(m.body, 0);
        else this.dropped.push(m.body);
      }
    }
    this.#wake(world.now + delaySeconds * 1000);
  }
}
