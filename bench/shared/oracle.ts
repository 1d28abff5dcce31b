/**
 * The oracle of every lock cell: it counts the holders inside the critical
 * section and fails the cell (the bench exits non-zero) when a lock ever
 * had more than its limit.
 *
 * @module
 */

/** Thrown when more workers held a lock than its limit. */
export class ViolationError extends Error {
  override name = "ViolationError";
}

/** Counts holders inside the critical section; throws past the limit. */
export class Oracle {
  inside = 0;
  violations = 0;
  #first = "";
  constructor(readonly limit: number, readonly what: string) {}

  enter(): void {
    this.inside++;
    if (this.inside > this.limit) {
      this.violations++;
      this.#first ||=
        `${this.inside} holders of ${this.what} (limit ${this.limit})`;
    }
  }

  leave(): void {
    this.inside--;
  }

  /** Throws a ViolationError when the limit was ever exceeded. */
  check(): void {
    if (this.violations > 0) {
      throw new ViolationError(
        `CORRECTNESS VIOLATION: ${this.violations} time(s) more holders than permitted; first: ${this.#first}`,
      );
    }
  }
}
