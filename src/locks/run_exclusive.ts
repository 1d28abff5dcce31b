/**
 * `runExclusive`: acquire, run a function with the lease's signal, always
 * release. One implementation for every lock-like primitive.
 *
 * @module
 */
import { LockTimeoutError } from "../errors.ts";
import type { Lease } from "./lease.ts";
import { checkWait } from "../_internal/validate.ts";
import { requestSnapshot } from "./snapshot.ts";

/** How `runExclusive` waits for the lock. */
export interface RunOptions {
  /**
   * `"forever"`: wait until acquired (or `signal` aborts); a number: wait up
   * to that many ms, then reject with `LockTimeoutError` (with a snapshot of
   * who held the lock, read within 500 ms more); `"skip"`: do not wait:
   * when the lock is taken, resolve `{ ran: false }` at once (while Redis
   * cannot answer, it retries within `commandTimeoutMs`, then rejects with
   * `RedisUnavailableError`, as `tryAcquire()` does).
   * @default {"forever"}
   */
  wait?: "forever" | "skip" | number;
  /**
   * Stops waiting (rejects with `signal.reason`); while the function runs,
   * it also aborts the signal the function receives.
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/** What `runExclusive` resolves: the function's value, or that it was skipped. */
export type RunResult<T> = { ran: true; value: T } | { ran: false };

/** The function run under the lock: it gets a signal that aborts when the lease is lost. */
export type Exclusive<T, L = Lease> = (
  signal: AbortSignal,
  lease: L,
) => T | Promise<T>;

/**
 * @internal Shared body of every `runExclusive` (Mutex, Semaphore,
 * ReadWriteLock, Redlock): `L` is the lease type its acquire gives.
 */
export async function runExclusive<
  T,
  L extends AsyncDisposable & { readonly signal: AbortSignal } = Lease,
>(
  name: string,
  acquire: (signal: AbortSignal | undefined) => Promise<L>,
  tryAcquire: (signal: AbortSignal | undefined) => Promise<L | undefined>,
  fn: Exclusive<T, L>,
  options: RunOptions = {},
): Promise<RunResult<T>> {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot run exclusively as 'fn' must be a function: current type is ${typeof fn}`,
    );
  }
  const { signal } = options;
  const wait = checkWait("run exclusively", options.wait ?? "forever");
  let lease: L | undefined;
  if (wait === "skip") {
    signal?.throwIfAborted();
    lease = await tryAcquire(signal);
    if (!lease) return { ran: false };
  } else if (wait === "forever") {
    lease = await acquire(signal);
  } else {
    const timeout = AbortSignal.timeout(wait);
    const bounded = signal ? AbortSignal.any([signal, timeout]) : timeout;
    // Who held the lock when the wait gave up, for the error.
    const request = requestSnapshot(bounded);
    try {
      lease = await acquire(bounded);
    } catch (error) {
      if (timeout.aborted && !signal?.aborted) {
        const { snapshot } = request;
        throw new LockTimeoutError(name, wait, { cause: error, snapshot });
      }
      throw error;
    }
  }
  await using held = lease;
  const running = signal ? AbortSignal.any([held.signal, signal]) : held.signal;
  return { ran: true, value: await fn(running, held) };
}
