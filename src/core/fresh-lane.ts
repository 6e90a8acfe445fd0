import type { BulkKind, Chunk } from "./build-requests.ts";
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
  readonly #chunks: { chunk: Chunk; window: WindowRecord }[] = [];
  #offset = 0;
  #returned: PendingRow[] = [];
  #reading: Promise<void> | undefined;
  #done = false;
  #failure: { error: unknown } | undefined;

  constructor(windows: AsyncIterator<PlannedWindow>, onWindow: (window: PlannedWindow) => WindowRecord) {
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
        for (const chunk of next.value.chunks) this.#chunks.push({ chunk, window });
      }
    } catch (error) {
      this.#failure = { error };
      this.#done = true;
    } finally {
      this.#reading = undefined;
    }
  }

  /** Up to `maxRows` rows, never across a planned chunk (so never over its byte budget). */
  take(maxRows: number, kind: BulkKind): { rows: PendingRow[]; body: string } {
    if (this.#returned.length > 0) {
      const rows = this.#returned.splice(0, maxRows);
      return { rows, body: bodyOf(kind, rows) };
    }
    const { chunk, window } = this.#chunks[0]!;
    const end = Math.min(chunk.rows.length, this.#offset + maxRows);
    const rows: PendingRow[] = [];
    for (let i = this.#offset; i < end; i++) {
      rows.push({
        index: chunk.indexes[i]!,
        row: chunk.rows[i]!,
        window,
        limit: Number.POSITIVE_INFINITY,
        solo: null,
        submitted: false,
      });
    }
    const whole = this.#offset === 0 && end === chunk.rows.length;
    this.#offset = end;
    if (end === chunk.rows.length) {
      this.#chunks.shift();
      this.#offset = 0;
    }
    return { rows, body: whole ? chunk.body : bodyOf(kind, rows) };
  }

  /** Hand rows back, to go first again. */
  giveBack(rows: readonly PendingRow[]): void {
    this.#returned = [...rows, ...this.#returned];
  }
}
