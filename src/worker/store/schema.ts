import { initialSlotState } from "../../core/delivery-policy.ts";
import type { Sql, SqlStorageLike } from "../sql.ts";
import { MAX_ROWS_PER_REQUEST } from "../../core/limits.ts";

/**
 * The delivery object's SQLite schema, versioned. `meta.schema_version` records the last migration
 * applied; a new version of the code applies the ones after it when it first opens the store, so
 * a deploy never needs the backlog drained first. Migrations are append-only: never edit one that
 * has shipped, add the next.
 *
 * Versions 1 and 2 shipped before the version was recorded, so they are written to be safe on a
 * store that already has them (a store with no version runs every migration).
 */

/** One step of the schema's history. `now` is when the upgrade runs. */
interface Migration {
  readonly version: number;
  readonly apply: (sql: Sql, now: number) => void;
}

function hasColumn(sql: Sql, table: string, column: string): boolean {
  return sql.exec("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", table, column).toArray().length > 0;
}

/** The lane of a pending row, as SQL over `row` (a table name, `NEW` or `OLD`). */
const laneOf = (row: string): string =>
  `(CASE WHEN ${row}.suspect_limit IS NULL THEN 'fresh' ELSE 'suspect' END)`;

function hasTable(sql: Sql, table: string): boolean {
  return sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", table).toArray().length >
    0;
}

const MIGRATIONS: readonly Migration[] = [
  {
    // The first release: pending rows merged by id, the job in flight, dead letters, meta.
    version: 1,
    apply: (sql) => {
      sql.exec(`CREATE TABLE IF NOT EXISTS rows (
        kind TEXT NOT NULL, id TEXT NOT NULL,
        fields TEXT NOT NULL, sent TEXT NOT NULL DEFAULT '{}',
        pending_since INTEGER, settled_at INTEGER, attempts INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (kind, id))`);
      sql.exec(
        `CREATE INDEX IF NOT EXISTS rows_pending ON rows (pending_since) WHERE pending_since IS NOT NULL`,
      );
      sql.exec(`CREATE INDEX IF NOT EXISTS rows_settled ON rows (settled_at) WHERE pending_since IS NULL`);
      sql.exec(`CREATE TABLE IF NOT EXISTS inflight (kind TEXT NOT NULL, id TEXT NOT NULL, sent TEXT NOT NULL,
        PRIMARY KEY (kind, id))`);
      sql.exec(`CREATE TABLE IF NOT EXISTS job_slot (slot INTEGER PRIMARY KEY CHECK (slot = 1),
        kind TEXT NOT NULL, phase TEXT NOT NULL, job_id TEXT, submitted_at INTEGER NOT NULL,
        rows INTEGER NOT NULL, last_poll TEXT)`);
      sql.exec(`CREATE TABLE IF NOT EXISTS dead_letters (seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL, id TEXT NOT NULL, row TEXT NOT NULL, reason TEXT NOT NULL,
        attempts INTEGER NOT NULL, failed_at INTEGER NOT NULL)`);
      sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    },
  },
  {
    // Row revisions, so a completed job settles its untouched rows in one statement. An in-flight
    // job recorded before this gets -1, which matches no row, so its rows settle field by field.
    version: 2,
    apply: (sql) => {
      if (!hasColumn(sql, "rows", "rev")) {
        sql.exec("ALTER TABLE rows ADD COLUMN rev INTEGER NOT NULL DEFAULT 0");
      }
      if (!hasColumn(sql, "inflight", "rev")) {
        sql.exec("ALTER TABLE inflight ADD COLUMN rev INTEGER NOT NULL DEFAULT -1");
      }
      // Any writer of `fields` that does not bump `rev` (an older version after a rollback) gets
      // it bumped, so a row changed while its job ran can never pass for unchanged.
      sql.exec(`CREATE TRIGGER IF NOT EXISTS rows_rev AFTER UPDATE OF fields ON rows WHEN NEW.rev = OLD.rev
        BEGIN UPDATE rows SET rev = rev + 1 WHERE kind = NEW.kind AND id = NEW.id; END`);
    },
  },
  {
    // The one delivery policy (src/core/delivery-policy.ts): suspects and their job-size limits,
    // solo failures weighed against completed jobs, rows set aside (kept with their field times,
    // so a redrive cannot undo a newer value), and the slot's state as the policy's JSON.
    version: 3,
    apply: (sql, now) => {
      sql.exec("ALTER TABLE rows ADD COLUMN suspect_limit INTEGER");
      sql.exec("ALTER TABLE rows ADD COLUMN suspect_at INTEGER");
      sql.exec("ALTER TABLE rows ADD COLUMN solo_count INTEGER NOT NULL DEFAULT 0");
      sql.exec("ALTER TABLE rows ADD COLUMN solo_epoch INTEGER NOT NULL DEFAULT 0");
      sql.exec("ALTER TABLE rows DROP COLUMN attempts");
      // Choosing a lane's next rows reads these indexes, not the table.
      sql.exec(`CREATE INDEX rows_fresh ON rows (kind, pending_since, id)
        WHERE pending_since IS NOT NULL AND suspect_limit IS NULL`);
      sql.exec(`CREATE INDEX rows_suspect ON rows (suspect_at, kind, id)
        WHERE pending_since IS NOT NULL AND suspect_limit IS NOT NULL`);
      // Pending rows per kind and lane, kept by triggers, so the status of a backlog of millions
      // answers at once instead of counting it (and holding the object while it does).
      sql.exec(`CREATE TABLE lane_counts (kind TEXT NOT NULL, lane TEXT NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (kind, lane))`);
      sql.exec(`INSERT INTO lane_counts (kind, lane, n) VALUES
        ('users', 'fresh', 0), ('users', 'suspect', 0), ('companies', 'fresh', 0), ('companies', 'suspect', 0)`);
      sql.exec(`UPDATE lane_counts SET n = (SELECT count(*) FROM rows WHERE rows.kind = lane_counts.kind
        AND rows.pending_since IS NOT NULL AND ${laneOf("rows")} = lane_counts.lane)`);
      const add = (row: "NEW" | "OLD", delta: string) =>
        `UPDATE lane_counts SET n = n ${delta} WHERE kind = ${row}.kind AND lane = ${laneOf(row)};`;
      const moved = "(OLD.suspect_limit IS NULL) != (NEW.suspect_limit IS NULL)";
      sql.exec(`CREATE TRIGGER lane_counts_insert AFTER INSERT ON rows WHEN NEW.pending_since IS NOT NULL
        BEGIN ${add("NEW", "+ 1")} END`);
      sql.exec(`CREATE TRIGGER lane_counts_delete AFTER DELETE ON rows WHEN OLD.pending_since IS NOT NULL
        BEGIN ${add("OLD", "- 1")} END`);
      sql.exec(`CREATE TRIGGER lane_counts_leave AFTER UPDATE OF pending_since, suspect_limit ON rows
        WHEN OLD.pending_since IS NOT NULL AND (NEW.pending_since IS NULL OR ${moved})
        BEGIN ${add("OLD", "- 1")} END`);
      sql.exec(`CREATE TRIGGER lane_counts_enter AFTER UPDATE OF pending_since, suspect_limit ON rows
        WHEN NEW.pending_since IS NOT NULL AND (OLD.pending_since IS NULL OR ${moved})
        BEGIN ${add("NEW", "+ 1")} END`);
      sql.exec("ALTER TABLE dead_letters RENAME TO set_aside");
      sql.exec("ALTER TABLE set_aside RENAME COLUMN failed_at TO set_aside_at");
      // `[value, acceptance time]` per field; NULL for entries from before this version.
      sql.exec("ALTER TABLE set_aside ADD COLUMN fields TEXT");
      // The job slot moves into the policy's state (meta.slot); a job in flight carries over.
      if (hasTable(sql, "job_slot")) {
        const job = sql.exec<{
          kind: string;
          phase: string;
          job_id: string | null;
          submitted_at: number;
          rows: number;
          last_poll: string | null;
        }>("SELECT kind, phase, job_id, submitted_at, rows, last_poll FROM job_slot WHERE slot = 1")
          .toArray()[0];
        const lastError = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'last_error'")
          .toArray()[0];
        const error = lastError === undefined ? null : JSON.parse(lastError.value);
        const slot = {
          kind: job?.kind ?? null,
          state: {
            ...initialSlotState({ maxRows: MAX_ROWS_PER_REQUEST }),
            job: job === undefined ? null : {
              lane: "fresh",
              rows: job.rows,
              submittedAt: job.submitted_at,
              // A submission never answered is made again; a running job is followed to its end.
              jobId: job.phase === "running" ? job.job_id : null,
              pollAt: now,
              progress: null,
              lastSeen: job.last_poll === null ? null : JSON.parse(job.last_poll),
            },
            lastLane: job === undefined ? null : "fresh",
            lastError: error === null ? null : { message: error.message, at: Date.parse(error.at) },
          },
        };
        sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('slot', ?)", JSON.stringify(slot));
        sql.exec("DROP TABLE job_slot");
      }
      for (const key of ["error_streak", "refused_streak", "max_rows", "last_error"]) {
        sql.exec("DELETE FROM meta WHERE key = ?", key);
      }
    },
  },
  {
    // The gateway's real-time traffic: events for Userpilot's track (kept in order, each sent
    // once, delivered ones remembered a day so a redelivered Queue message is not sent twice),
    // and deletions (tombstones: what was accepted before them is dropped, what comes after is
    // held until Userpilot has the delete).
    version: 4,
    apply: (sql) => {
      sql.exec(`CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL, body TEXT NOT NULL, accepted_at REAL NOT NULL, delivered_at INTEGER,
        solo_count INTEGER NOT NULL DEFAULT 0, solo_epoch INTEGER NOT NULL DEFAULT 0, retry_at REAL)`);
      sql.exec("CREATE INDEX events_queued ON events (seq) WHERE delivered_at IS NULL");
      sql.exec("CREATE INDEX events_user ON events (user_id, seq) WHERE delivered_at IS NULL");
      sql.exec("CREATE INDEX events_delivered ON events (delivered_at) WHERE delivered_at IS NOT NULL");
      sql.exec(`CREATE TABLE deletions (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
        id TEXT NOT NULL, deleted_at REAL NOT NULL, forwarded_at INTEGER)`);
      sql.exec("CREATE UNIQUE INDEX deletions_by_id ON deletions (kind, id, deleted_at)");
      sql.exec("CREATE INDEX deletions_unforwarded ON deletions (kind, id) WHERE forwarded_at IS NULL");
      sql.exec("CREATE INDEX deletions_forwarded ON deletions (forwarded_at) WHERE forwarded_at IS NOT NULL");
      // Queued events and unforwarded deletions are counted like rows (see version 3).
      sql.exec(
        `INSERT INTO lane_counts (kind, lane, n) VALUES ('events', 'queued', 0), ('deletions', 'queued', 0)`,
      );
      for (const [table, done] of [["events", "delivered_at"], ["deletions", "forwarded_at"]] as const) {
        const count = (delta: string) => `UPDATE lane_counts SET n = n ${delta} WHERE kind = '${table}';`;
        sql.exec(`CREATE TRIGGER ${table}_count_insert AFTER INSERT ON ${table} WHEN NEW.${done} IS NULL
          BEGIN ${count("+ 1")} END`);
        sql.exec(`CREATE TRIGGER ${table}_count_done AFTER UPDATE OF ${done} ON ${table}
          WHEN OLD.${done} IS NULL AND NEW.${done} IS NOT NULL BEGIN ${count("- 1")} END`);
        sql.exec(`CREATE TRIGGER ${table}_count_delete AFTER DELETE ON ${table} WHEN OLD.${done} IS NULL
          BEGIN ${count("- 1")} END`);
      }
    },
  },
  {
    // The operator's 24-hour chart: one sample a minute of the backlog and of the running total of
    // rows delivered (src/worker/samples.ts keeps it at 1,440 rows).
    version: 5,
    apply: (sql) => {
      sql.exec(`CREATE TABLE IF NOT EXISTS samples (minute INTEGER PRIMARY KEY,
        pending INTEGER NOT NULL, delivered INTEGER NOT NULL)`);
    },
  },
  {
    // The oldest update merged into a row while a job carried it: still owed when the job
    // completes, even if a later update replaced its values, so the row's pending_since (which
    // an event of that user waits on) stays at it. A job in flight at the upgrade has NULL, and
    // settles as before.
    version: 6,
    apply: (sql) => {
      if (!hasColumn(sql, "inflight", "merged_since")) {
        sql.exec("ALTER TABLE inflight ADD COLUMN merged_since INTEGER");
      }
    },
  },
  {
    // Delta delivery (src/worker/delta.ts): per profile, fingerprints of what completed jobs
    // delivered (keyed by a hash of kind and id, no id stored), when it was last seen (profiles
    // unseen for FORGET_AFTER_DAYS are forgotten), and the fingerprints each row of the job in
    // flight will have delivered once it completes. A job in flight at the upgrade has NULL and
    // records nothing: its rows are simply sent whole next time.
    version: 7,
    apply: (sql) => {
      sql.exec(
        `CREATE TABLE fingerprints (key INTEGER PRIMARY KEY, prints BLOB NOT NULL, seen_at INTEGER NOT NULL)`,
      );
      sql.exec("CREATE INDEX fingerprints_seen ON fingerprints (seen_at)");
      sql.exec("ALTER TABLE inflight ADD COLUMN prints BLOB");
    },
  },
  {
    // The audit log (store/audit.ts): who deleted, redrove, purged or forgot what, and when; the
    // credential's name only, never a key or a row value.
    version: 8,
    apply: (sql) => {
      sql.exec(`CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
        credential TEXT NOT NULL, action TEXT NOT NULL, route TEXT NOT NULL, named INTEGER,
        taken INTEGER NOT NULL)`);
    },
  },
  {
    // Userpilot runs a delete at its next daily job, wiping what was delivered of that id since
    // it was forwarded: once DELETION_RUN_MS has passed, what was accepted after the delete is owed
    // again (rechecked marks the tombstones whose ids have been looked at), and a row is kept until
    // then. Tombstones forwarded at the upgrade are looked at once more too (harmless: a resend).
    // And rows set aside are looked up by id, and events by user and acceptance time, for the order
    // in which events go.
    version: 9,
    apply: (sql) => {
      sql.exec("ALTER TABLE deletions ADD COLUMN rechecked INTEGER NOT NULL DEFAULT 0");
      // A delete Userpilot refuses goes alone, is weighed like a row, and waits for its retry
      // without holding the others; past its counted refusals it is set aside.
      sql.exec("ALTER TABLE deletions ADD COLUMN solo INTEGER NOT NULL DEFAULT 0");
      sql.exec("ALTER TABLE deletions ADD COLUMN solo_count INTEGER NOT NULL DEFAULT 0");
      sql.exec("ALTER TABLE deletions ADD COLUMN solo_epoch INTEGER NOT NULL DEFAULT 0");
      sql.exec("ALTER TABLE deletions ADD COLUMN retry_at REAL");
      sql.exec("CREATE INDEX deletions_recheck ON deletions (forwarded_at) WHERE rechecked = 0");
      // An event waits while its user has a row set aside (looked up by id).
      sql.exec("CREATE INDEX set_aside_by_id ON set_aside (kind, id)");
      // The oldest update a set-aside row stands for: its values may have been replaced by later
      // ones, yet the user exists in Userpilot only once one of them is delivered, so a redrive
      // keeps the events accepted after it waiting.
      sql.exec("ALTER TABLE set_aside ADD COLUMN since INTEGER");
      // A user's events go in acceptance order, not arrival order (the Queue may reorder them).
      sql.exec(
        "CREATE INDEX events_user_time ON events (user_id, accepted_at, seq) WHERE delivered_at IS NULL",
      );
    },
  },
  {
    // Alerts (store/alerts.ts): each condition raised and not cleared, with when it was last
    // notified (one alert until it clears, a reminder at most every few hours, across restarts),
    // and the outbox of signed alerts still to post, each retried under its own backoff.
    version: 10,
    apply: (sql) => {
      sql.exec(`CREATE TABLE alerts (type TEXT PRIMARY KEY, since INTEGER NOT NULL,
        notified_at INTEGER NOT NULL, mark INTEGER NOT NULL)`);
      sql.exec(`CREATE TABLE alert_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL,
        body TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, created_at INTEGER NOT NULL)`);
    },
  },
];

/** The version this code writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.at(-1)!.version;

/**
 * Bring the store up to {@link SCHEMA_VERSION}, each migration in its own transaction. Throws if
 * the store is newer than this code (a rollback past a schema change): better a loud alarm error
 * than writes an older model does not understand.
 */
export function migrate(storage: SqlStorageLike, now: number): void {
  const sql = storage.sql;
  sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
  const recorded =
    sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").toArray()[0];
  const current = recorded === undefined ? 0 : Number(recorded.value);
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `the delivery store is at schema version ${current}; this code knows up to ${SCHEMA_VERSION}`,
    );
  }
  for (const migration of MIGRATIONS) {
    if (migration.version <= current) continue;
    storage.transactionSync(() => {
      migration.apply(sql, now);
      sql.exec(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
        String(migration.version),
      );
    });
  }
}
