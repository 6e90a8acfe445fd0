/**
 * The audit log: every delete, redrive, purge and forget, with the name of the credential that
 * asked for it, the route, how many ids it named and took, and when. Never a key, a hash of a key
 * or a row value: nothing here can be used to authenticate or to read a profile.
 * @module
 */
import type { Sql } from "../sql.ts";

/** The actions audited: the irreversible and the operators' ones. */
export type AuditAction = "delete" | "redrive" | "purge" | "forget";

/** What an audited action records (the log adds `seq` and `at`). */
export interface AuditRecord {
  /**
   * Who asked: the credential's name from the settings (an ingest or admin key, a signing
   * secret), or whatever identity authenticated the request (a Cloudflare Access email, say).
   */
  readonly credential: string;
  readonly action: AuditAction;
  /** `METHOD /path` of the request. */
  readonly route: string;
  /** How many ids (or rows set aside) the request named; `null` for all of them. */
  readonly named: number | null;
  /** How many the action took: rows redriven or purged, profiles forgotten, ids deleted. */
  readonly taken: number;
}

/** One entry of the audit log. */
export interface AuditEntry extends AuditRecord {
  readonly seq: number;
  /** When, as an ISO time. */
  readonly at: string;
}

/** Entries kept: the newest ten thousand (the log lines keep every one, for as long as the logs). */
export const AUDIT_KEPT = 10_000;

type Row = {
  seq: number;
  at: number;
  credential: string;
  action: AuditAction;
  route: string;
  named: number | null;
  taken: number;
};

/** The audit log in the delivery object's SQLite, newest {@link AUDIT_KEPT} entries. */
export class AuditLog {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Record an action done at `now`; returns its entry. */
  add(record: AuditRecord, now: number): AuditEntry {
    const { seq } = this.#sql.exec<{ seq: number }>(
      "INSERT INTO audit (at, credential, action, route, named, taken) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
      now,
      record.credential,
      record.action,
      record.route,
      record.named,
      record.taken,
    ).one();
    this.#sql.exec("DELETE FROM audit WHERE seq <= ?", seq - AUDIT_KEPT);
    return { seq, at: new Date(now).toISOString(), ...record };
  }

  /** The latest `limit` entries, newest first. */
  recent(limit: number): AuditEntry[] {
    return this.#sql.exec<Row>(
      "SELECT seq, at, credential, action, route, named, taken FROM audit ORDER BY seq DESC LIMIT ?",
      limit,
    ).toArray().map(({ at, ...entry }) => ({ ...entry, at: new Date(at).toISOString() }));
  }
}
