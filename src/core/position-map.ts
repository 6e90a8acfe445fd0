/**
 * Where each row of a stream came from in its input (a line, an element, a row of a query), kept
 * as the few places where the next row is not at the next position (blank lines, records that
 * could not be read and never reached the stream): a million well-formed rows cost one entry, not
 * a million. Internal: the CLI and the PostgreSQL source locate rows with it.
 * @module
 */
export class PositionMap {
  readonly #index: number[] = [];
  readonly #at: number[] = [];

  /** Row `index` of the stream is at position `at` of the input (indexes noted in increasing order). */
  note(index: number, at: number): void {
    const last = this.#index.length - 1;
    if (last < 0 || at - this.#at[last]! !== index - this.#index[last]!) {
      this.#index.push(index);
      this.#at.push(at);
    }
  }

  /** The input position of row `index` of the stream. */
  at(index: number): number {
    let low = 0;
    let high = this.#index.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.#index[middle]! <= index) low = middle;
      else high = middle - 1;
    }
    return this.#at[low]! + (index - this.#index[low]!);
  }
}
