/** The Durable Object: a thin shell that gives the delivery engine workerd's platform. @module */
import { DurableObject } from "cloudflare:workers";
import type { BulkKind } from "../../core/build-requests.ts";
import { log } from "../log.ts";
import { readSettings } from "../settings.ts";
import type {
  AuditEntry,
  AuditRecord,
  SetAsideKind,
  SetAsideRow,
  SetAsideSelection,
} from "../store/index.ts";
import { DeliveryEngine, type DeliveryOverview } from "./engine.ts";
import type { QueueMessageBody } from "../queue-message.ts";
import type { DeliveryStatus } from "./status.ts";

/**
 * What the object reads of the Worker's env: its settings (read by `readSettings`), and the
 * optional `USERPILOT` service binding that Userpilot calls go through (an egress proxy, or the
 * sandbox in tests).
 */
export interface DeliveryEnv {
  readonly USERPILOT?: Fetcher | undefined;
  readonly [setting: string]: unknown;
}

/**
 * One per Userpilot environment (see `deliveryStub`): the single writer that knows whether a job
 * is in flight. Every method is the engine's (`engine.ts`); this class only hands it the object's
 * storage and alarm, the clock, `Math.random`, Userpilot's `fetch`, the global `fetch` for
 * alerts, and `waitUntil`.
 */
export class DeliveryObject extends DurableObject<DeliveryEnv> {
  readonly #engine: DeliveryEngine;

  constructor(ctx: DurableObjectState, env: DeliveryEnv) {
    super(ctx, env);
    const binding = env.USERPILOT;
    this.#engine = new DeliveryEngine({
      storage: ctx.storage,
      clock: () => Date.now(),
      random: Math.random,
      fetch: binding ? (request) => binding.fetch(request) : (request) => fetch(request),
      alertFetch: (request) => fetch(request),
      background: (work) => ctx.waitUntil(work),
      alarm: { get: () => ctx.storage.getAlarm(), set: (at) => ctx.storage.setAlarm(at) },
      settings: () => readSettings(env),
      pause: () => new Promise((resolve) => setTimeout(resolve, 0)),
      log,
    });
  }

  /** See {@link DeliveryEngine.enqueue}. */
  enqueue(messages: readonly QueueMessageBody[]): Promise<number> {
    return this.#engine.enqueue(messages);
  }

  /** See {@link DeliveryEngine.deleteIds}. */
  deleteIds(target: BulkKind, ids: readonly string[], deletedAt: number): Promise<number> {
    return this.#engine.deleteIds(target, ids, deletedAt);
  }

  /** See {@link DeliveryEngine.status}. */
  status(): DeliveryStatus {
    return this.#engine.status();
  }

  /** See {@link DeliveryEngine.overview}. */
  overview(options: { after?: number; limit: number }): DeliveryOverview {
    return this.#engine.overview(options);
  }

  /** See {@link DeliveryEngine.listSetAside}. */
  listSetAside(options: { after?: number; limit: number; kind?: SetAsideKind | undefined }): {
    rows: SetAsideRow[];
    next: number | null;
  } {
    return this.#engine.listSetAside(options);
  }

  /** See {@link DeliveryEngine.redrive}. */
  redrive(selection: SetAsideSelection): Promise<number> {
    return this.#engine.redrive(selection);
  }

  /** See {@link DeliveryEngine.purgeSetAside}. */
  purgeSetAside(selection: SetAsideSelection): Promise<number> {
    return this.#engine.purgeSetAside(selection);
  }

  /** See {@link DeliveryEngine.recordAudit}. */
  recordAudit(record: AuditRecord): AuditEntry {
    return this.#engine.recordAudit(record);
  }

  /** See {@link DeliveryEngine.forgetFingerprints}. */
  forgetFingerprints(selection: { all: true } | { kind: BulkKind; ids: readonly string[] }): Promise<number> {
    return this.#engine.forgetFingerprints(selection);
  }

  override alarm(): Promise<void> {
    return this.#engine.alarm();
  }
}
