/**
 * One timer for many deadlines: the leases of a process each want a
 * renewal and a deadline timer, armed at every grant and cleared at almost
 * every release. A `setTimeout` plus `clearTimeout` per lease costs several
 * microseconds of client CPU per lock cycle (the runtime's timer objects,
 * their bookkeeping, the garbage); here a deadline is an entry in a set,
 * and one runtime timer waits for the earliest one.
 *
 * Entries are kept in 1 ms slots (a map of sets, and a min-heap of slot
 * numbers); an entry never runs before its due time, and runs in the
 * callback of the runtime timer of its slot (as late as a `setTimeout`
 * would be). Once no entry is left, the runtime timer is cleared, so an
 * idle process has no timer of ours (Deno's op sanitizer, `unref`-free
 * exit as before).
 *
 * @module
 */

/** One scheduled call; {@linkcode Schedule.cancel} takes it back. */
export interface Scheduled {
  readonly due: number;
  readonly run: () => void;
  /** Set once run or cancelled. */
  done: boolean;
}

/** Deadlines on `performance.now()`'s clock, behind one runtime timer. */
export class Schedule {
  readonly #onError: (error: unknown) => void;
  readonly #slots = new Map<number, Set<Scheduled>>();
  /** Slot numbers, a min-heap; may hold slots emptied since (skipped). */
  readonly #heap: number[] = [];
  #count = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The slot the runtime timer is armed for. */
  #armed = Infinity;

  /**
   * `onError` gets what a callback threw (the others run on); by default
   * it is rethrown on its own, as an uncaught error, as from a
   * `setTimeout` callback.
   */
  constructor(onError: (error: unknown) => void = rethrow) {
    this.#onError = onError;
  }

  /** Entries not yet run nor cancelled. */
  get size(): number {
    return this.#count;
  }

  /**
   * Runs `run` once `performance.now()` reaches `due` (at once, in a later
   * timer callback, when it already has), and at most `slackMs` later than
   * the runtime timer would: an entry that may run a little late (a lease
   * renewal, itself jittered) does not move the runtime timer earlier
   * when it is armed within that slack, which spares a `clearTimeout` and
   * a `setTimeout` for most grants. A throwing `run` does not stop the
   * others (its error goes to `onError`).
   */
  at(due: number, run: () => void, slackMs = 0): Scheduled {
    const entry: Scheduled = { due, run, done: false };
    const slot = Math.ceil(due);
    let set = this.#slots.get(slot);
    if (set === undefined) {
      set = new Set();
      this.#slots.set(slot, set);
      push(this.#heap, slot);
    }
    set.add(entry);
    this.#count++;
    if (slot < this.#armed && this.#armed > due + slackMs) this.#arm(slot);
    return entry;
  }

  /**
   * Takes `entry` back if it has not run yet (also when its slot is being
   * run: a callback may cancel another of the same moment); `undefined` is
   * ignored.
   */
  cancel(entry: Scheduled | undefined): void {
    if (entry === undefined || entry.done) return;
    entry.done = true;
    const slot = Math.ceil(entry.due);
    const set = this.#slots.get(slot);
    if (set === undefined || !set.delete(entry)) return;
    if (set.size === 0) this.#slots.delete(slot);
    if (--this.#count === 0) this.#reset();
  }

  /** Nothing left: no runtime timer, no stale slots. */
  #reset(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armed = Infinity;
    this.#heap.length = 0;
    this.#slots.clear();
  }

  #arm(slot: number): void {
    clearTimeout(this.#timer);
    this.#armed = slot;
    this.#timer = setTimeout(
      this.#fire,
      Math.max(0, slot - performance.now()),
    );
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armed = Infinity;
    const now = performance.now();
    const heap = this.#heap;
    const due: Scheduled[] = [];
    while (heap.length > 0 && heap[0] <= now) {
      const slot = pop(heap);
      const set = this.#slots.get(slot);
      if (set === undefined) continue;
      this.#slots.delete(slot);
      for (const entry of set) due.push(entry);
    }
    this.#count -= due.length;
    // Slots emptied by cancels: not worth a wake-up.
    while (heap.length > 0 && !this.#slots.has(heap[0])) pop(heap);
    // Armed before running: a callback may schedule or cancel others.
    if (this.#count === 0) this.#reset();
    else if (heap.length > 0) this.#arm(heap[0]);
    for (const entry of due) {
      if (entry.done) continue; // cancelled by an earlier one of these
      entry.done = true;
      try {
        entry.run();
      } catch (error) {
        this.#onError(error);
      }
    }
  };
}

function rethrow(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

function push(heap: number[], value: number): void {
  let i = heap.length;
  heap.push(value);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent] <= value) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = value;
}

function pop(heap: number[]): number {
  const top = heap[0];
  const last = heap.pop()!;
  const n = heap.length;
  if (n === 0) return top;
  let i = 0;
  while (true) {
    const left = 2 * i + 1;
    if (left >= n) break;
    const right = left + 1;
    const child = right < n && heap[right] < heap[left] ? right : left;
    if (heap[child] >= last) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = last;
  return top;
}

/** The process's schedule, which every lease shares. */
export const leaseSchedule: Schedule = new Schedule();
