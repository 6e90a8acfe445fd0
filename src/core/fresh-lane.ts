import type { BulkKind } from "./build-requests.ts";
import type { Company, User } from "./schemas.ts";
import type { SoloFailures } from "./suspects.ts";
import type { PlannedWindow } from "./windows.ts";

/** A window of the stream and how many of its planned rows are not yet settled. */
export interface WindowRecord {
  readonly start: number;
  readonly end: number;
  pending: number;
}

/** A row on its way: where it came from, and what the delivery policy has learned about it. */
export interface PendingRow {
  /** Position in the stream of the first row with its id (in its window). */
  readonly index: number;
  /** Changes only when a later row with the same id joins it (see `SuspectLane.absorb`). */
  row: User | Company;
  readonly window: WindowRecord;
  /** Most rows of any job this row may travel in (halved each time a job of it fails). */
  limit: number;
  solo: SoloFailures | null;
  /** In a job Userpilot accepted, at least once. */
  submitted: boolean;
}

/** The JSON body of a bulk job. */
export const bodyOf = (kind: BulkKind, rows: readonly PendingRow[]): string =>
  `{"${kind}":${JSON.stringify(rows.map((pending) => pending.row))}}`;

/** A planned chunk waiting to go: its body (written when its window is read), not its row objects. */
interface ReadyChunk {
  readonly body: string;
  readonly indexes: readonly number[];
  readonly window: WindowRecord;
}

/**
 * The rows of one job. A whole planned chunk keeps only its body, the most compact form of its
 * rows (a one-byte string instead of an object or two and several strings per row), and parses
 * them back only if something needs them: a failed job's rows becoming suspects, or a suspect
 * with one of their ids. So a window in Userpilot's slot and the one read ahead cost about their
 * JSON size.
 */
export class JobRows {
  readonly body: string;
  readonly count: number;
  /** Userpilot accepted this job. */
  accepted = false;
  #rows: PendingRow[] | undefined;
  readonly #chunk: ReadyChunk | undefined;
  readonly #kind: BulkKind;

  private constructor(kind: BulkKind, body: string, count: number, rows?: PendingRow[], chunk?: ReadyChunk) {
    this.#kind = kind;
    this.body = body;
    this.count = count;
    this.#rows = rows;
    this.#chunk = chunk;
  }

  /** Rows already in hand (suspects, rows handed back, part of a chunk). */
  static of(kind: BulkKind, rows: PendingRow[], body: string = bodyOf(kind, rows)): JobRows {
    return new JobRows(kind, body, rows.length, rows);
  }

  static whole(kind: BulkKind, chunk: ReadyChunk): JobRows {
    return new JobRows(kind, chunk.body, chunk.indexes.length, undefined, chunk);
  }

  get rows(): PendingRow[] {
    if (this.#rows === undefined) {
      const chunk = this.#chunk!;
      const rows = (JSON.parse(chunk.body) as Record<BulkKind, (User | Company)[]>)[this.#kind];
      this.#rows = rows.map((row, i) => ({
        index: chunk.indexes[i]!,
        row,
        window: chunk.window,
        limit: Number.POSITIVE_INFINITY,
        solo: null,
        submitted: this.accepted,
      }));
    }
    return this.#rows;
  }

  /** The chunk, while its rows were never needed: it can go back to the lane as it was. */
  get chunk(): ReadyChunk | undefined {
    return this.#rows === undefined ? this.#chunk : undefined;
  }
}

/**
 * Rows not yet tried, in stream order: the planned chunks of the windows read so far (each
 * chunk's body reused when it goes whole), and rows handed back to go first again. It reads the
 * next window only once the ready chunks are all taken, and while a job runs (`prefetch`), so at
 * most one window waits beside the one in Userpilot's slot and the slot never waits on reading
 * unless the input itself is slower than Userpilot.
 */
export class FreshLane {
  readonly #windows: AsyncIterator<PlannedWindow>;
  readonly #onWindow: (window: PlannedWindow) => WindowRecord;
  readonly #kind: BulkKind;
  #chunks: ReadyChunk[] = [];
  #returned: PendingRow[] = [];
  #reading: Promise<void> | undefined;
  #done = false;
  #failure: { error: unknown } | undefined;

  constructor(
    kind: BulkKind,
    windows: AsyncIterator<PlannedWindow>,
    onWindow: (window: PlannedWindow) => WindowRecord,
  ) {
    this.#kind = kind;
    this.#windows = windows;
    this.#onWindow = onWindow;
  }

  /** Rows can be taken now. */
  get ready(): boolean {
    return this.#returned.length > 0 || this.#chunks.length > 0;
  }

  /** Every row has been taken and the input is read to its end. */
  get exhausted(): boolean {
    return this.#done && this.#reading === undefined && !this.ready;
  }

  /** Throw what reading the input threw, if it did (reading then stops, as at the input's end). */
  check(): void {
    if (this.#failure !== undefined) throw this.#failure.error;
  }

  /** Start reading the next window, unless rows are ready, a read is under way, or the input ended. */
  prefetch(): void {
    if (this.#chunks.length > 0 || this.#done || this.#reading !== undefined) return;
    this.#reading = this.#read();
  }

  /** Wait for the next window (or the input's end, or its failure). */
  async fill(): Promise<void> {
    this.prefetch();
    await this.#reading;
  }

  async #read(): Promise<void> {
    try {
      const next = await this.#windows.next();
      if (next.done) {
        this.#done = true;
      } else {
        const window = this.#onWindow(next.value);
        // Bodies are written here, while a job runs, and the row objects let go.
        for (const chunk of next.value.chunks) {
          this.#chunks.push({ body: chunk.body, indexes: chunk.indexes, window });
        }
      }
    } catch (error) {
      this.#failure = { error };
      this.#done = true;
    } finally {
      this.#reading = undefined;
    }
  }

  /** Up to `maxRows` rows, never across a planned chunk (so never over its byte budget). */
  take(maxRows: number): JobRows {
    if (this.#returned.length === 0 && this.#chunks[0]!.indexes.length <= maxRows) {
      return JobRows.whole(this.#kind, this.#chunks.shift()!);
    }
    if (this.#returned.length === 0) {
      // Fewer rows than the chunk holds (jobs halved after a 413): take it apart.
      this.#returned = JobRows.whole(this.#kind, this.#chunks.shift()!).rows;
    }
    return JobRows.of(this.#kind, this.#returned.splice(0, maxRows));
  }

  /** Hand a job's rows back, to go first again. */
  giveBack(job: JobRows): void {
    const chunk = job.chunk;
    if (chunk !== undefined && this.#returned.length === 0) this.#chunks = [chunk, ...this.#chunks];
    else this.#returned = [...job.rows, ...this.#returned];
  }
}
