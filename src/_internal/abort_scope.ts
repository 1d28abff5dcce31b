/**
 * One signal per operation, all aborted at once when their owner is
 * disposed: what a primitive object needs for the acquires in flight on it.
 *
 * Sharing one long-lived signal among the operations instead (the owner's
 * "disposed" signal) makes every operation add and remove listeners on it,
 * and `EventTarget` keeps listeners in a list it scans on each add and
 * remove: with thousands of acquires in flight on one object that cost
 * grew to several hundred microseconds of CPU per acquire. Here each
 * operation gets an `AbortController` of its own, kept in a `Set`.
 *
 * @module
 */

/** A signal for one operation; call `done()` when it has finished. */
export interface ScopedSignal {
  readonly signal: AbortSignal;
  done(): void;
}

/** The operations in flight on one owner, aborted together by `abort()`. */
export class AbortScope {
  readonly #live = new Set<AbortController>();
  #aborted = false;
  #reason: unknown;

  /** `true` once `abort()` was called. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** What `abort()` was given. */
  get reason(): unknown {
    return this.#reason;
  }

  /**
   * A signal that aborts when `user` does (with its reason) or when the
   * scope does (with the scope's). Throws the reason when either already
   * has.
   */
  open(user?: AbortSignal): ScopedSignal {
    if (this.#aborted) throw this.#reason;
    user?.throwIfAborted();
    const own = new AbortController();
    this.#live.add(own);
    return {
      signal: user ? AbortSignal.any([user, own.signal]) : own.signal,
      done: () => this.#live.delete(own),
    };
  }

  /** Aborts every open signal, and every later `open()`, with `reason`. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    for (const own of this.#live) own.abort(reason);
    this.#live.clear();
  }
}
