/**
 * Userpilot's job slot as the delivery object records it: the policy's state (`meta.slot`), and
 * the rows of the job in flight (`inflight`) with the field times and fingerprints they carry, so
 * that what the policy decides about the job (settle, suspect, fail alone, release) is applied to
 * exactly those values, whenever the answer comes and whatever restarts happen in between.
 * @module
 */
import type { BulkKind } from "../../core/build-requests.ts";
import type { RowsEffect, SlotState } from "../../core/delivery-policy.ts";
import { recordSoloFailure } from "../../core/suspects.ts";
import { DELETION_RUN_MS } from "../retention.ts";
import type { Backlog } from "./backlog.ts";
import { carriedPrints, encodePrints } from "./delta.ts";
import type { FingerprintStore } from "./fingerprints.ts";
import type { Candidate } from "./lanes.ts";
import type { Meta } from "./meta.ts";
import type { Sql } from "../sql.ts";

/** What the delivery object stores about Userpilot's job slot: the policy's state, and the job's kind. */
export interface StoredSlot {
  readonly kind: BulkKind | null;
  readonly state: SlotState;
}

const SLOT_KEY = "slot";

/** The job slot's state and the job in flight's rows. */
export class JobInFlightStore {
  readonly #sql: Sql;
  readonly #transaction: <T>(fn: () => T) => T;
  readonly #meta: Meta;
  readonly #backlog: Backlog;
  readonly #fingerprints: FingerprintStore;

  constructor(
    sql: Sql,
    transaction: <T>(fn: () => T) => T,
    parts: { meta: Meta; backlog: Backlog; fingerprints: FingerprintStore },
  ) {
    this.#sql = sql;
    this.#transaction = transaction;
    this.#meta = parts.meta;
    this.#backlog = parts.backlog;
    this.#fingerprints = parts.fingerprints;
  }

  /** The slot as last saved, or a fresh one. */
  slot(initial: () => SlotState): StoredSlot {
    const text = this.#meta.get(SLOT_KEY);
    return text === undefined ? { kind: null, state: initial() } : JSON.parse(text);
  }

  saveSlot(slot: StoredSlot): void {
    this.#meta.set(SLOT_KEY, JSON.stringify(slot));
  }

  /** Whether the job in flight carries any of these ids (of this kind). */
  carriesAny(kind: BulkKind, ids: readonly string[]): boolean {
    return this.#sql.exec(
      "SELECT 1 FROM inflight WHERE kind = ? AND id IN (SELECT value FROM json_each(?)) LIMIT 1",
      kind,
      JSON.stringify(ids),
    ).toArray().length > 0;
  }

  /** Record a job's rows as in flight, with the slot state that says so, before anything is sent. */
  begin(kind: BulkKind, candidates: readonly Candidate[], state: SlotState): void {
    this.#transaction(() => {
      this.#sql.exec("DELETE FROM inflight");
      for (const { id, row, carried, rev } of candidates) {
        this.#sql.exec(
          "INSERT INTO inflight (kind, id, sent, rev, prints) VALUES (?, ?, ?, ?, ?)",
          kind,
          id,
          JSON.stringify(carried),
          rev,
          encodePrints(carriedPrints(kind, id, row, Object.keys(carried))),
        );
      }
      this.saveSlot({ kind, state });
    });
  }

  /**
   * Apply what the policy decided about the job's rows, and save its new state, in one
   * transaction (with `jobFailed`, the job that ended without completing is counted in it too).
   * Returns how many rows were settled or set aside.
   */
  apply(effect: RowsEffect, slot: StoredSlot, setAsideAfter: number, now: number, jobFailed = false): number {
    return this.#transaction(() => {
      let count = 0;
      if (jobFailed) this.#meta.count("jobsFailed", 1);
      if (effect.type === "settle") {
        count = this.#complete(now);
        this.#meta.count("rowsDelivered", count);
      } else if (effect.type === "suspect") {
        this.#sql.exec(
          `UPDATE rows SET suspect_limit = min(coalesce(suspect_limit, ?1), ?1), suspect_at = ?2
           WHERE (kind, id) IN (SELECT kind, id FROM inflight)`,
          effect.limit,
          now,
        );
      } else if (effect.type === "failed-alone") {
        count = this.#failedAlone(effect.reason, slot.state.completions, setAsideAfter, now) ? 1 : 0;
      }
      if (effect.type !== "keep" && effect.type !== "settle") this.#forgetCarried();
      if (effect.type !== "keep") this.#sql.exec("DELETE FROM inflight");
      this.saveSlot(effect.type === "keep" ? slot : { kind: null, state: slot.state });
      return count;
    });
  }

  /**
   * Set aside rows that can never be sent as they are (invalid under the current limits),
   * settling what they carried, so they stop blocking the rows behind them.
   */
  reject(kind: BulkKind, candidates: readonly Candidate[], reason: string, now: number): void {
    this.#transaction(() => {
      for (const candidate of candidates) {
        this.#backlog.setAsideCarried(kind, candidate.id, candidate.carried, null, reason, 0, now);
      }
    });
  }

  /**
   * The job ended without completing (failed, abandoned past its allowance, unknown to Userpilot,
   * or its submission's answer lost): it may still have applied some of its rows, so what Userpilot
   * has of those profiles is unknown. Forget their fingerprints: their next values are sent whole.
   */
  #forgetCarried(): void {
    for (const kind of ["users", "companies"] as const) {
      const ids = this.#sql.exec<{ id: string }>("SELECT id FROM inflight WHERE kind = ?", kind).toArray();
      this.#fingerprints.forget(kind, ids.map((row) => row.id));
    }
  }

  /** The job completed: settle exactly the field values it carried. Returns how many rows it had. */
  #complete(now: number): number {
    const count = this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM inflight").one().n;
    // What Userpilot now has. Not for an id with a delete still to forward, or forwarded less than
    // DELETION_RUN_MS ago: Userpilot runs deletions in a daily job, which wipes what arrived before it.
    const delivered = this.#sql.exec<{ kind: BulkKind; id: string; prints: ArrayBuffer }>(
      `SELECT kind, id, prints FROM inflight WHERE prints IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deletions d
         WHERE d.kind = inflight.kind AND d.id = inflight.id AND (d.forwarded_at IS NULL OR d.forwarded_at > ?))`,
      now - DELETION_RUN_MS,
    );
    for (const { kind, id, prints } of delivered.toArray()) this.#fingerprints.record(kind, id, prints, now);
    // Rows nothing was merged into since the job was planned: the job carried every pending
    // field, so each is now delivered (a carried time is always newer than the one it replaces).
    // (Written so that SQLite walks the job's rows by key, not the whole table.)
    this.#sql.exec(
      `UPDATE rows SET sent = json_patch(sent,
           (SELECT inflight.sent FROM inflight WHERE inflight.kind = rows.kind AND inflight.id = rows.id)),
         pending_since = NULL, settled_at = ?, suspect_limit = NULL, suspect_at = NULL, solo_count = 0,
         solo_epoch = 0
       WHERE (kind, id, rev) IN (SELECT kind, id, rev FROM inflight)`,
      now,
    );
    // Rows updated while the job ran, or carried in part: settle exactly what it carried.
    const changed = this.#sql
      .exec<{ kind: string; id: string; sent: string; merged_since: number | null }>(
        `SELECT inflight.kind, inflight.id, inflight.sent, inflight.merged_since FROM inflight
         JOIN rows ON rows.kind = inflight.kind AND rows.id = inflight.id WHERE rows.rev != inflight.rev`,
      )
      .toArray();
    for (const { kind, id, sent, merged_since } of changed) {
      this.#backlog.settle(kind as BulkKind, id, JSON.parse(sent), merged_since, now);
      // Delivered: whatever is left of it is fresh again.
      this.#sql.exec(
        `UPDATE rows SET suspect_limit = NULL, suspect_at = NULL, solo_count = 0, solo_epoch = 0
         WHERE kind = ? AND id = ?`,
        kind,
        id,
      );
    }
    return count;
  }

  /** The job's one row failed alone: weigh it, and set it aside or send it alone again later. */
  #failedAlone(reason: string, completions: number, setAsideAfter: number, now: number): boolean {
    const inflight =
      this.#sql.exec<{ kind: BulkKind; id: string; sent: string; merged_since: number | null }>(
        "SELECT kind, id, sent, merged_since FROM inflight",
      ).toArray()[0];
    if (inflight === undefined) return false;
    const { kind, id } = inflight;
    const row = this.#backlog.state(kind, id);
    if (row === undefined) return false;
    const previous = row.soloCount === 0 ? null : { count: row.soloCount, epoch: row.soloEpoch };
    const { record, setAside } = recordSoloFailure(previous, completions, setAsideAfter);
    if (setAside) {
      this.#backlog.setAsideCarried(
        kind,
        id,
        JSON.parse(inflight.sent),
        inflight.merged_since,
        reason,
        record.count,
        now,
      );
      return true;
    }
    this.#sql.exec(
      `UPDATE rows SET suspect_limit = 1, suspect_at = ?, solo_count = ?, solo_epoch = ? WHERE kind = ? AND id = ?`,
      now,
      record.count,
      record.epoch,
      kind,
      id,
    );
    return false;
  }
}
