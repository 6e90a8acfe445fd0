import type { BulkKind } from "../core/build-requests.ts";
import { rowId } from "../core/coalesce.ts";
import { utf8Length } from "../core/utf8.ts";
import type { Company, Job, MetadataValue, User } from "../core/schemas.ts";

/**
 * The Durable Object's SQLite state: pending rows merged by id, the job in flight, dead letters.
 *
 * Each row keeps, per field, its latest value and the time it was accepted (`[value, ts]`), and
 * per field the time of the value last delivered. A field is pending while its latest time is
 * newer than what was delivered. That makes merging order-independent (the Queue may redeliver an
 * older message after a newer one) and lets a completed job settle exactly the values it carried:
 * a field updated meanwhile stays pending with its newer value. Fields are `@` (the id itself, so
 * a bare identify is sent too), `company_id`, and `m:<key>` for metadata.
 */
type Field = [value: MetadataValue, ts: number];
type Fields = Record<string, Field>;
type Sent = Record<string, number>;

/** A pending row ready to send, with the field times it carries. */
export interface Candidate {
  readonly id: string;
  readonly row: User | Company;
  readonly carried: Readonly<Record<string, number>>;
  /** The row's revision when it was chosen: if it is unchanged at completion, the job carried every pending field. */
  readonly rev: number;
}

/** What the job slot holds. */
export interface JobSlot {
  readonly kind: BulkKind;
  /** `submitting`: rows chosen, POST not yet answered. `running`: Userpilot gave a job id. */
  readonly phase: "submitting" | "running";
  readonly jobId: string | null;
  readonly submittedAt: number;
  readonly rows: number;
  readonly lastPoll: Job | null;
}

/** What `GET /v1/status` reports about the backlog. */
export interface BacklogStatus {
  pending: { users: number; companies: number };
  oldestPendingAt: string | null;
  job: {
    kind: BulkKind;
    phase: string;
    jobId: string | null;
    rows: number;
    submittedAt: string;
    status: string | null;
    completedRows: number | null;
  } | null;
  lastError: { message: string; at: string } | null;
  deadLetters: {
    count: number;
    recent: { kind: string; id: string; reason: string; attempts: number; failedAt: string }[];
  };
}

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS rows (
     kind TEXT NOT NULL, id TEXT NOT NULL,
     fields TEXT NOT NULL, sent TEXT NOT NULL DEFAULT '{}',
     pending_since INTEGER, settled_at INTEGER, attempts INTEGER NOT NULL DEFAULT 0,
     rev INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (kind, id))`,
  `CREATE INDEX IF NOT EXISTS rows_pending ON rows (pending_since) WHERE pending_since IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS rows_settled ON rows (settled_at) WHERE pending_since IS NULL`,
  `CREATE TABLE IF NOT EXISTS inflight (kind TEXT NOT NULL, id TEXT NOT NULL, sent TEXT NOT NULL,
     rev INTEGER NOT NULL DEFAULT -1, PRIMARY KEY (kind, id))`,
  `CREATE TABLE IF NOT EXISTS job_slot (slot INTEGER PRIMARY KEY CHECK (slot = 1), kind TEXT NOT NULL,
     phase TEXT NOT NULL, job_id TEXT, submitted_at INTEGER NOT NULL, rows INTEGER NOT NULL, last_poll TEXT)`,
  `CREATE TABLE IF NOT EXISTS dead_letters (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
     id TEXT NOT NULL, row TEXT NOT NULL, reason TEXT NOT NULL, attempts INTEGER NOT NULL, failed_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
];

/**
 * Columns added after the first release, for stores created before them. `rows.rev` counts the
 * merges into a row; `inflight.rev` is the row's revision when its job was planned. An in-flight
 * job recorded by an older version gets -1, which matches no row, so its rows settle field by field.
 */
const ADDED_COLUMNS: readonly [table: string, column: string, definition: string][] = [
  ["rows", "rev", "INTEGER NOT NULL DEFAULT 0"],
  ["inflight", "rev", "INTEGER NOT NULL DEFAULT -1"],
];

/**
 * `merge` bumps `rev` itself; this trigger bumps it for any other writer of `fields` that does not
 * (an older version of this code, say after a rollback and roll-forward mid-job), so a row
 * changed while its job ran can never pass for unchanged.
 */
const REV_TRIGGER =
  `CREATE TRIGGER IF NOT EXISTS rows_rev AFTER UPDATE OF fields ON rows WHEN NEW.rev = OLD.rev
  BEGIN UPDATE rows SET rev = rev + 1 WHERE kind = NEW.kind AND id = NEW.id; END`;

/** Most UTF-8 bytes of a row's stored JSON: SQLite in a Durable Object refuses a row over 2 MB. */
const MAX_STORED_ROW_BYTES = 1_900_000;

function fitsInRow(fieldsText: string, sentText: string): boolean {
  const units = fieldsText.length + sentText.length;
  if (units * 3 <= MAX_STORED_ROW_BYTES) return true; // no UTF-16 unit takes more than 3 bytes
  return utf8Length(fieldsText) + utf8Length(sentText) <= MAX_STORED_ROW_BYTES;
}

function isPending(fields: Fields, sent: Sent): boolean {
  return Object.entries(fields).some(([name, [, ts]]) => ts > (sent[name] ?? -1));
}

function fieldsOf(row: User | Company, ts: number): Fields {
  const fields: Fields = { "@": [null, ts] };
  if ("user_id" in row && row.company_id !== undefined) fields["company_id"] = [row.company_id, ts];
  for (const [key, value] of Object.entries(row.metadata ?? {})) fields[`m:${key}`] = [value, ts];
  return fields;
}

/** The row to send: the id plus every pending field; and the field times it carries. */
function pendingRow(
  kind: BulkKind,
  id: string,
  fields: Fields,
  sent: Sent,
): { row: User | Company; carried: Sent } {
  const carried: Sent = {};
  const metadata: Record<string, MetadataValue> = {};
  let companyId: string | undefined;
  for (const [name, [value, ts]] of Object.entries(fields)) {
    if (ts <= (sent[name] ?? -1)) continue;
    carried[name] = ts;
    if (name === "company_id") companyId = value as string;
    else if (name.startsWith("m:")) metadata[name.slice(2)] = value;
  }
  const row: Record<string, unknown> = kind === "users" ? { user_id: id } : { company_id: id };
  if (kind === "users" && companyId !== undefined) row["company_id"] = companyId;
  if (Object.keys(metadata).length > 0) row["metadata"] = metadata;
  return { row: row as unknown as User | Company, carried };
}

/** SQLite access for one Userpilot environment's backlog. Every method is synchronous. */
export class PendingStore {
  readonly #sql: SqlStorage;
  readonly #transaction: <T>(fn: () => T) => T;

  constructor(storage: DurableObjectStorage) {
    this.#sql = storage.sql;
    this.#transaction = (fn) => storage.transactionSync(fn);
    for (const statement of SCHEMA) this.#sql.exec(statement);
    for (const [table, column, definition] of ADDED_COLUMNS) {
      const present = this.#sql.exec("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", table, column)
        .toArray().length > 0;
      if (!present) this.#sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
    }
    this.#sql.exec(REV_TRIGGER);
  }

  /** Merge accepted rows: per field, the value accepted last wins; a field older than what was delivered is dropped. */
  merge(kind: BulkKind, rows: readonly (User | Company)[], receivedAt: number, now: number): void {
    this.#transaction(() => {
      for (const row of rows) {
        const id = rowId(row);
        const existing = this.#state(kind, id);
        const fields: Fields = existing?.fields ?? {};
        const sent: Sent = existing?.sent ?? {};
        for (const [name, field] of Object.entries(fieldsOf(row, receivedAt))) {
          const current = fields[name];
          // First arrival wins a tie: what is stored must stay what was (or will be) delivered.
          if (current === undefined || current[1] < field[1]) fields[name] = field;
        }
        const fieldsText = JSON.stringify(fields);
        const sentText = JSON.stringify(sent);
        if (!fitsInRow(fieldsText, sentText)) {
          // Each message was within its limits, but together they outgrow what SQLite stores in
          // one row. Keep what is stored; set this row aside rather than fail the whole batch.
          const reason = `row too large to store after merging (over ${MAX_STORED_ROW_BYTES} bytes)`;
          this.#insertDeadLetter(kind, id, row, reason, 0, now);
          continue;
        }
        const pendingSince = isPending(fields, sent) ? (existing?.pendingSince ?? now) : null;
        this.#sql.exec(
          `INSERT INTO rows (kind, id, fields, sent, pending_since) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (kind, id) DO UPDATE SET fields = excluded.fields, pending_since = excluded.pending_since,
             rev = rev + 1`,
          kind,
          id,
          fieldsText,
          sentText,
          pendingSince,
        );
      }
    });
  }

  /** The job slot, if a job is being submitted or is running. */
  slot(): JobSlot | undefined {
    const row = this.#sql
      .exec<{
        kind: string;
        phase: string;
        job_id: string | null;
        submitted_at: number;
        rows: number;
        last_poll: string | null;
      }>("SELECT kind, phase, job_id, submitted_at, rows, last_poll FROM job_slot WHERE slot = 1")
      .toArray()[0];
    if (row === undefined) return undefined;
    return {
      kind: row.kind as BulkKind,
      phase: row.phase as JobSlot["phase"],
      jobId: row.job_id,
      submittedAt: row.submitted_at,
      rows: row.rows,
      lastPoll: row.last_poll === null ? null : JSON.parse(row.last_poll),
    };
  }

  /** Up to `maxRows` pending rows of the kind that has waited longest, oldest first. */
  candidates(maxRows: number): { kind: BulkKind; candidates: Candidate[] } | undefined {
    const oldest = this.#sql
      .exec<{ kind: string }>(
        "SELECT kind FROM rows WHERE pending_since IS NOT NULL ORDER BY pending_since LIMIT 1",
      )
      .toArray()[0];
    if (oldest === undefined) return undefined;
    const kind = oldest.kind as BulkKind;
    const candidates = this.#sql
      .exec<{ id: string; fields: string; sent: string; rev: number }>(
        `SELECT id, fields, sent, rev FROM rows WHERE kind = ? AND pending_since IS NOT NULL
         ORDER BY pending_since, id LIMIT ?`,
        kind,
        maxRows,
      )
      .toArray()
      .map(({ id, fields, sent, rev }) => ({
        id,
        rev,
        ...pendingRow(kind, id, JSON.parse(fields), JSON.parse(sent)),
      }));
    return { kind, candidates };
  }

  /** Record the rows of a job as in flight (phase `submitting`) before anything is sent. */
  begin(kind: BulkKind, candidates: readonly Candidate[], now: number): void {
    this.#transaction(() => {
      this.#sql.exec("DELETE FROM inflight");
      for (const { id, carried, rev } of candidates) {
        this.#sql.exec(
          "INSERT INTO inflight (kind, id, sent, rev) VALUES (?, ?, ?, ?)",
          kind,
          id,
          JSON.stringify(carried),
          rev,
        );
      }
      this.#sql.exec(
        `INSERT OR REPLACE INTO job_slot (slot, kind, phase, job_id, submitted_at, rows, last_poll)
         VALUES (1, ?, 'submitting', NULL, ?, ?, NULL)`,
        kind,
        now,
        candidates.length,
      );
    });
  }

  /** Move rows straight to dead letters (they can never be sent as they are), settling what they carried. */
  reject(kind: BulkKind, candidates: readonly Candidate[], reason: string, now: number): void {
    this.#transaction(() => {
      for (const { id, row, carried } of candidates) this.#deadLetter(kind, id, row, carried, reason, 0, now);
    });
  }

  /** Userpilot accepted the job. */
  markRunning(job: Job): void {
    this.#sql.exec(
      "UPDATE job_slot SET phase = 'running', job_id = ?, last_poll = ? WHERE slot = 1",
      job.job_id,
      JSON.stringify(job),
    );
  }

  /** Remember the latest poll, for the status route. */
  recordPoll(job: Job): void {
    this.#sql.exec("UPDATE job_slot SET last_poll = ? WHERE slot = 1", JSON.stringify(job));
  }

  /**
   * Forget a submission whose outcome is unknown or refused (network error, 409, 429, restart
   * mid-POST). The rows are still pending, so the next job carries them again; if the lost POST
   * did start a job, sending the same rows twice is harmless.
   */
  abandon(): void {
    this.#transaction(() => this.#clearSlot());
  }

  /** The job completed: settle exactly the field values it carried. Returns how many rows it had. */
  complete(now: number): number {
    return this.#transaction(() => {
      const count = this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM inflight").one().n;
      // Rows nothing was merged into since the job was planned: the job carried every pending
      // field, so each is now delivered (a carried time is always newer than the one it replaces).
      // (Written so that SQLite walks the job's rows by key, not the whole table.)
      this.#sql.exec(
        `UPDATE rows SET sent = json_patch(sent,
             (SELECT inflight.sent FROM inflight WHERE inflight.kind = rows.kind AND inflight.id = rows.id)),
           pending_since = NULL, settled_at = ?, attempts = 0
         WHERE (kind, id, rev) IN (SELECT kind, id, rev FROM inflight)`,
        now,
      );
      // Rows updated while the job ran: settle exactly what it carried, field by field.
      const changed = this.#sql
        .exec<{ kind: string; id: string; sent: string }>(
          `SELECT inflight.kind, inflight.id, inflight.sent FROM inflight
           JOIN rows ON rows.kind = inflight.kind AND rows.id = inflight.id WHERE rows.rev != inflight.rev`,
        )
        .toArray();
      for (const { kind, id, sent } of changed) this.#settle(kind as BulkKind, id, JSON.parse(sent), now, 0);
      this.#clearSlot();
      return count;
    });
  }

  /**
   * The job failed (or was refused as invalid): count an attempt against each of its rows; a row
   * out of attempts becomes a dead letter and its carried values are settled, so it stops blocking.
   * Returns how many rows were dead-lettered.
   */
  fail(reason: string, maxAttempts: number, now: number): number {
    return this.#transaction(() => {
      let dead = 0;
      for (const { kind, id, carried } of this.#inflight()) {
        const row = this.#state(kind, id);
        if (row === undefined) continue;
        const attempts = row.attempts + 1;
        if (attempts < maxAttempts) {
          this.#sql.exec("UPDATE rows SET attempts = ? WHERE kind = ? AND id = ?", attempts, kind, id);
          continue;
        }
        const { row: value } = pendingRow(kind, id, row.fields, row.sent);
        this.#deadLetter(kind, id, value, carried, reason, attempts, now);
        dead++;
      }
      this.#clearSlot();
      return dead;
    });
  }

  /** Store rows that never reached the backlog (the Queue's dead-letter queue) as dead letters. */
  addDeadLetters(
    kind: BulkKind,
    rows: readonly (User | Company)[],
    reason: string,
    attempts: number,
    now: number,
  ): void {
    this.#transaction(() => {
      for (const row of rows) this.#insertDeadLetter(kind, rowId(row), row, reason, attempts, now);
    });
  }

  /** Drop settled rows older than `retentionMs`: late, older duplicates can no longer be told apart after that. */
  purge(olderThan: number): void {
    this.#sql.exec("DELETE FROM rows WHERE pending_since IS NULL AND settled_at < ?", olderThan);
  }

  meta(key: string): string | undefined {
    return this.#sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value;
  }

  setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.#sql.exec("DELETE FROM meta WHERE key = ?", key);
    else this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  }

  pendingCount(): number {
    return this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM rows WHERE pending_since IS NOT NULL")
      .one().n;
  }

  status(): BacklogStatus {
    const pending = { users: 0, companies: 0 };
    for (
      const { kind, n } of this.#sql.exec<{ kind: string; n: number }>(
        "SELECT kind, count(*) AS n FROM rows WHERE pending_since IS NOT NULL GROUP BY kind",
      )
    ) {
      pending[kind as BulkKind] = n;
    }
    const oldest = this.#sql.exec<{ at: number | null }>(
      "SELECT min(pending_since) AS at FROM rows WHERE pending_since IS NOT NULL",
    ).one().at;
    const slot = this.slot();
    const error = this.meta("last_error");
    const deadCount = this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM dead_letters").one().n;
    const recent = this.#sql
      .exec<{ kind: string; id: string; reason: string; attempts: number; failed_at: number }>(
        "SELECT kind, id, reason, attempts, failed_at FROM dead_letters ORDER BY seq DESC LIMIT 20",
      )
      .toArray()
      .map((d) => ({
        kind: d.kind,
        id: d.id,
        reason: d.reason,
        attempts: d.attempts,
        failedAt: new Date(d.failed_at).toISOString(),
      }));
    return {
      pending,
      oldestPendingAt: oldest === null ? null : new Date(oldest).toISOString(),
      job: slot === undefined ? null : {
        kind: slot.kind,
        phase: slot.phase,
        jobId: slot.jobId,
        rows: slot.rows,
        submittedAt: new Date(slot.submittedAt).toISOString(),
        status: slot.lastPoll?.status ?? null,
        completedRows: typeof slot.lastPoll?.["completed_rows"] === "number"
          ? slot.lastPoll["completed_rows"]
          : null,
      },
      lastError: error === undefined ? null : JSON.parse(error),
      deadLetters: { count: deadCount, recent },
    };
  }

  #deadLetter(
    kind: BulkKind,
    id: string,
    row: User | Company,
    carried: Sent,
    reason: string,
    attempts: number,
    now: number,
  ): void {
    this.#insertDeadLetter(kind, id, row, reason, attempts, now);
    this.#settle(kind, id, carried, now, 0);
  }

  #clearSlot(): void {
    this.#sql.exec("DELETE FROM inflight");
    this.#sql.exec("DELETE FROM job_slot");
  }

  #insertDeadLetter(
    kind: BulkKind,
    id: string,
    row: User | Company,
    reason: string,
    attempts: number,
    now: number,
  ): void {
    this.#sql.exec(
      "INSERT INTO dead_letters (kind, id, row, reason, attempts, failed_at) VALUES (?, ?, ?, ?, ?, ?)",
      kind,
      id,
      JSON.stringify(row),
      reason,
      attempts,
      now,
    );
  }

  /** One row's stored state, parsed. */
  #state(
    kind: BulkKind,
    id: string,
  ): { fields: Fields; sent: Sent; pendingSince: number | null; attempts: number } | undefined {
    const row = this.#sql
      .exec<{ fields: string; sent: string; pending_since: number | null; attempts: number }>(
        "SELECT fields, sent, pending_since, attempts FROM rows WHERE kind = ? AND id = ?",
        kind,
        id,
      )
      .toArray()[0];
    return row === undefined ? undefined : {
      fields: JSON.parse(row.fields),
      sent: JSON.parse(row.sent),
      pendingSince: row.pending_since,
      attempts: row.attempts,
    };
  }

  #inflight(): { kind: BulkKind; id: string; carried: Sent }[] {
    return this.#sql
      .exec<{ kind: string; id: string; sent: string }>("SELECT kind, id, sent FROM inflight")
      .toArray()
      .map((row) => ({ kind: row.kind as BulkKind, id: row.id, carried: JSON.parse(row.sent) }));
  }

  /** Mark carried field times as delivered and recompute whether the row is still pending. */
  #settle(kind: BulkKind, id: string, carried: Sent, now: number, attempts: number): void {
    const row = this.#state(kind, id);
    if (row === undefined) return;
    const { fields, sent } = row;
    for (const [name, ts] of Object.entries(carried)) sent[name] = Math.max(sent[name] ?? -1, ts);
    const pending = isPending(fields, sent);
    this.#sql.exec(
      "UPDATE rows SET sent = ?, pending_since = ?, settled_at = ?, attempts = ? WHERE kind = ? AND id = ?",
      JSON.stringify(sent),
      pending ? row.pendingSince ?? now : null,
      pending ? null : now,
      attempts,
      kind,
      id,
    );
  }
}
