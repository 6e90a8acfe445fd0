import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { type BulkKind, newRequestId } from "../../mod.ts";
import type { PostgresPosition } from "../postgres/mod.ts";
import type { ColumnType, CsvDelimiter, InputFormat, PostgresInput } from "./args.ts";
import { writeAtomically } from "./atomic-write.ts";
import { ResumeError } from "./errors.ts";
import type { InputFile } from "./input.ts";

/** What must be the same for a rerun to read the input into the very same rows and windows. */
export interface Fingerprint {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly kind: BulkKind;
  /** The file's format, or `postgres` (`--from-postgres`). */
  readonly format: InputFormat | "postgres";
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly columnTypes: Readonly<Record<string, ColumnType>>;
  readonly emptyAsNull: boolean;
  /** CSV's field separator when it is not a comma (absent for a comma, as in state files written before `--delimiter`). */
  readonly delimiter?: CsvDelimiter;
  /** `--from-postgres`: `--id-column`, `--company-column` and `--nulls` (absent for files). */
  readonly columns?: string;
  /** `"userpilot"` (directly), or the gateway's URL (`--ingest-url`). */
  readonly via: string;
  /**
   * The `--state` file as it was when the run began, and whether it sent every row (together
   * they decide which rows go, so the rows' numbers), or `"none"`.
   */
  readonly state: string;
}

/** A job Userpilot accepted and that was not yet seen to finish. */
export interface InFlightJob {
  readonly jobId: string;
  /** Once it completes, every row of the input before this one is settled. */
  readonly through: number;
  /** Rows in the job. */
  readonly rows: number;
  /** `--from-postgres`: once it completes, every row up to this id is settled. */
  readonly after?: PostgresPosition | undefined;
}

/** The state file's content. */
interface ResumeState {
  readonly version: 2;
  readonly fingerprint: Fingerprint;
  /**
   * Every row of the input before this one (counted from 0 among the rows the readers could
   * parse) is settled: delivered, rejected or set aside. A rerun sends from here.
   */
  checkpoint: number;
  /**
   * `--from-postgres`, whose rows come in id order: every row up to this id is settled, and a
   * rerun reads the rows after it (`checkpoint` stays 0: the rerun's rows are counted from there).
   */
  after?: PostgresPosition | undefined;
  inFlight?: InFlightJob | undefined;
  /** Names this run's bodies to the gateway, so a rerun sends each with the same `Idempotency-Key`. */
  readonly runId: string;
  /**
   * When the first run began (ms since the epoch): a rerun judges the `--state` file's age by it,
   * so it decides as the first run did. Absent in files written before it was kept.
   */
  readonly startedAt?: number;
  updatedAt: string;
}

const FIELD_NAMES: Record<keyof Fingerprint, string> = {
  path: "the input path (or the query, or its database)",
  size: "the input's size",
  mtimeMs: "the input's modification time",
  kind: "users/companies",
  format: "--format",
  maxRows: "--max-rows",
  maxBytes: "the body size limit",
  columnTypes: "--types",
  emptyAsNull: "--empty-as-null",
  delimiter: "--delimiter",
  columns: "--id-column, --company-column or --nulls",
  via: "--ingest-url",
  state: "--state (or that file, written since)",
};

/** The fingerprint of a run over `file` with these chunking options. */
export function fingerprintOf(
  file: InputFile,
  options: Omit<Fingerprint, "path" | "size" | "mtimeMs" | "columnTypes" | "via" | "delimiter" | "state"> & {
    readonly delimiter?: CsvDelimiter | undefined;
    readonly ingestUrl?: string | undefined;
    readonly state: string | undefined;
    /** With `--state`: this run sends every row whatever the file says. */
    readonly everyRow?: boolean | undefined;
    readonly columnTypes: ReadonlyMap<string, ColumnType>;
  },
): Fingerprint {
  return {
    path: file.path,
    size: file.size,
    // Whole milliseconds: runtimes report sub-millisecond digits differently, and a run may
    // be resumed under another runtime.
    mtimeMs: Math.trunc(file.mtimeMs),
    kind: options.kind,
    format: options.format,
    maxRows: options.maxRows,
    maxBytes: options.maxBytes,
    columnTypes: Object.fromEntries([...options.columnTypes].sort(([a], [b]) => a.localeCompare(b))),
    emptyAsNull: options.emptyAsNull,
    ...(options.format === "csv" && options.delimiter !== undefined && options.delimiter !== ","
      ? { delimiter: options.delimiter }
      : {}),
    via: options.ingestUrl ?? "userpilot",
    state: options.state === undefined ? "none" : stateMark(options.state, options.everyRow ?? false),
  };
}

/**
 * The fingerprint of a run over a query (`--from-postgres`): the query and the database it runs
 * in (host, port and name; never the user or password) as a SHA-256, and the options that make
 * its rows.
 */
export function postgresFingerprint(
  postgres: PostgresInput,
  query: string,
  options: Pick<Fingerprint, "kind" | "maxRows" | "maxBytes"> & {
    readonly ingestUrl?: string | undefined;
    readonly state: string | undefined;
    readonly everyRow?: boolean | undefined;
  },
): Fingerprint {
  const { host, pathname } = new URL(postgres.url);
  const digest = createHash("sha256").update(`${host}${pathname}\u0000${query}`).digest("hex");
  return {
    path: `postgres ${digest}`,
    size: 0,
    mtimeMs: 0,
    kind: options.kind,
    format: "postgres",
    maxRows: options.maxRows,
    maxBytes: options.maxBytes,
    columnTypes: {},
    emptyAsNull: false,
    columns: JSON.stringify([postgres.idColumn ?? null, postgres.companyColumn ?? null, postgres.nulls]),
    via: options.ingestUrl ?? "userpilot",
    state: options.state === undefined ? "none" : stateMark(options.state, options.everyRow ?? false),
  };
}

/**
 * The `--state` file's path, size and modification time (`absent`: none yet), and `every row` when
 * the run sends every row whatever it holds (`--full`, a stale or foreign file).
 */
function stateMark(path: string, everyRow: boolean): string {
  try {
    const { size, mtimeMs } = statSync(path);
    return `${resolve(path)} ${size} ${Math.trunc(mtimeMs)}${everyRow ? " every row" : ""}`;
  } catch {
    return `${resolve(path)} absent`;
  }
}

function changedFields(saved: Fingerprint, current: Fingerprint): string[] {
  return (Object.keys(FIELD_NAMES) as (keyof Fingerprint)[])
    .filter((key) => JSON.stringify(saved[key]) !== JSON.stringify(current[key]))
    .map((key) => FIELD_NAMES[key]);
}

/**
 * The `--resume` file: how far into this input every row is settled (the core's checkpoint), and
 * which job is in flight. Saved atomically (temporary file, then rename) whenever a job is
 * accepted or completes, so a run killed at any moment leaves a usable file.
 *
 * @example
 * ```ts
 * const resume = ResumeFile.open("sync.state.json", fingerprint);
 * const skip = resume.checkpoint; // rows before it are not sent again
 * ```
 */
export class ResumeFile {
  readonly path: string;
  readonly #state: ResumeState;

  private constructor(path: string, state: ResumeState) {
    this.path = path;
    this.#state = state;
  }

  /**
   * When the run recorded at `path` first began, if the file says (a file that cannot be read is
   * left to {@link ResumeFile.open} to report).
   */
  static startedAt(path: string): number | undefined {
    try {
      const startedAt = (JSON.parse(readFileSync(path, "utf8")) as Partial<ResumeState>)?.startedAt;
      return typeof startedAt === "number" && Number.isFinite(startedAt) ? startedAt : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Open the state at `path`, or start a new one there (begun at `startedAt`, ms since the
   * epoch). Refuses, with {@link ResumeError}, a state made for another input or other chunking
   * options.
   */
  static open(path: string, fingerprint: Fingerprint, startedAt: number = Date.now()): ResumeFile {
    let text: string | undefined;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      if ((error as { code?: unknown }).code !== "ENOENT") {
        throw new ResumeError(
          `cannot read --resume ${path}: ${(error as { code?: unknown }).code ?? "read error"}`,
        );
      }
    }
    let state: ResumeState;
    if (text === undefined) {
      state = { version: 2, fingerprint, checkpoint: 0, runId: newRequestId(), startedAt, updatedAt: "" };
    } else {
      try {
        state = JSON.parse(text) as ResumeState;
      } catch {
        throw new ResumeError(`--resume ${path} is not a resume state file (it is not JSON)`);
      }
      if (state?.version !== 2 || typeof state.checkpoint !== "number" || !state.fingerprint) {
        throw new ResumeError(`--resume ${path} is not a resume state file of this version`);
      }
      const changed = changedFields(state.fingerprint, fingerprint);
      if (changed.length > 0) {
        throw new ResumeError(
          `--resume ${path} was written for another run (${changed.join(", ")} changed); ` +
            "refusing to resume. Delete it to start over, or pass another --resume file",
        );
      }
    }
    const file = new ResumeFile(path, state);
    try {
      file.#save(); // an unwritable path fails now, before anything is sent
    } catch (error) {
      throw new ResumeError(
        `cannot write --resume ${path}: ${(error as { code?: unknown }).code ?? "write error"}`,
      );
    }
    return file;
  }

  /** Rows of the input (among those the readers could parse) settled by earlier runs. */
  get checkpoint(): number {
    return this.#state.checkpoint;
  }

  /** `--from-postgres`: every row up to this id is settled. */
  get after(): PostgresPosition | undefined {
    return this.#state.after;
  }

  /** The job that was running when the last run stopped, if any. */
  get inFlight(): InFlightJob | undefined {
    return this.#state.inFlight;
  }

  get runId(): string {
    return this.#state.runId;
  }

  /** Userpilot accepted a job. */
  submitted(job: InFlightJob): void {
    this.#state.inFlight = job;
    this.#save();
  }

  /**
   * Every row before `checkpoint` is settled (from PostgreSQL: every row up to the id `after`, when
   * known); `settled` says whether the job in flight is over.
   */
  reached(checkpoint: number, settled: boolean, after?: PostgresPosition): void {
    this.#state.checkpoint = checkpoint;
    if (after !== undefined) this.#state.after = after;
    if (settled) this.#state.inFlight = undefined;
    this.#save();
  }

  #save(): void {
    this.#state.updatedAt = new Date().toISOString();
    writeAtomically(this.path, `${JSON.stringify(this.#state, null, 2)}\n`);
  }
}
