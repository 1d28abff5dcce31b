/**
 * Several locks as one: `acquireAll()` takes every lock of a set (mutexes,
 * semaphore permits), or none, and hands back one {@linkcode MultiLease}.
 *
 * No deadlock between callers asking for overlapping sets in different
 * orders: every caller takes the locks in one global order (prefix, then
 * name, then server), whatever order it gave them in. All or nothing: if
 * an acquire fails or the signal aborts, the locks already taken are
 * released before the promise rejects.
 *
 * @module
 */
import type { Lease } from "./lease.ts";
import { identityOf, type LockPrimitive } from "./primitive.ts";
import { Semaphore } from "./semaphore.ts";

/** One part of an `acquireAll()`: a lock, or a semaphore with a permit count. */
export type MultiLockPart = LockPrimitive | {
  /** The semaphore (or mutex). */
  lock: LockPrimitive;
  /**
   * Permits to take of it (semaphores).
   * @default {1}
   */
  permits?: number;
};

/**
 * The leases of an `acquireAll()`, held together: `signal` aborts as soon
 * as any of them is lost, `release()` gives them all back.
 *
 * @example
 * ```ts
 * import { acquireAll, connect, Mutex } from "@redsync/core";
 * await using redis = await connect();
 * const from = new Mutex(redis, "account:17");
 * const to = new Mutex(redis, "account:42");
 * await using both = await acquireAll([from, to], AbortSignal.timeout(5_000));
 * console.log(both.tokens); // one fencing token per lock, in the order given
 * ```
 */
export class MultiLease implements AsyncDisposable {
  /** The leases, in the order the locks were given. */
  readonly leases: readonly Lease[];
  /** Aborts (with that lease's `LockLostError`) when any lease is lost. */
  readonly signal: AbortSignal;

  /** @internal Made by `acquireAll()`. */
  constructor(leases: readonly Lease[]) {
    this.leases = leases;
    this.signal = AbortSignal.any(leases.map((lease) => lease.signal));
  }

  /** The fencing token of each lease, in the order the locks were given. */
  get tokens(): number[] {
    return this.leases.map((lease) => lease.token);
  }

  /**
   * Releases every lease (all are attempted); rejects with the first error
   * if any release failed (a lease that had been lost).
   *
   * @example
   * ```ts
   * import { acquireAll, connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * const both = await acquireAll([new Mutex(redis, "a"), new Mutex(redis, "b")]);
   * await both.release();
   * ```
   */
  async release(): Promise<void> {
    const results = await Promise.allSettled(
      this.leases.map((lease) => lease.release()),
    );
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /**
   * Extends every lease (to `leaseMs` from now, or each one's own lease).
   *
   * @example
   * ```ts
   * import { acquireAll, connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * await using both = await acquireAll([new Mutex(redis, "a"), new Mutex(redis, "b")]);
   * await both.extend(60_000);
   * ```
   */
  async extend(leaseMs?: number): Promise<void> {
    await Promise.all(this.leases.map((lease) => lease.extend(leaseMs)));
  }

  /** Releases every lease at the end of an `await using` scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.allSettled(
      this.leases.map((lease) => lease[Symbol.asyncDispose]()),
    );
  }
}

/**
 * Takes every lock of `parts` (all, or none), in one global order so that
 * callers asking for overlapping sets never deadlock; resolves with one
 * {@linkcode MultiLease}. On abort (rejects with `signal.reason`) or any
 * failure, the locks already taken are released first. The same lock twice
 * is a `TypeError`.
 *
 * @example Move money between two accounts
 * ```ts
 * import { acquireAll, connect, Mutex, Semaphore } from "@redsync/core";
 * await using redis = await connect();
 * const api = await Semaphore.create(redis, "partner-api", { permits: 5 });
 * await using held = await acquireAll(
 *   [new Mutex(redis, "account:42"), new Mutex(redis, "account:17"), { lock: api, permits: 2 }],
 *   AbortSignal.timeout(5_000),
 * );
 * // ... both accounts and two API permits are ours until the scope ends
 * ```
 */
export async function acquireAll(
  parts: readonly MultiLockPart[],
  signal?: AbortSignal,
): Promise<MultiLease> {
  if (!Array.isArray(parts) || parts.length === 0) {
    throw new TypeError(
      "Cannot acquire all as 'parts' must be a non-empty array of locks",
    );
  }
  const entries = parts.map((part, index) => {
    const lock = "lock" in part ? part.lock : part;
    const permits = "lock" in part ? part.permits ?? 1 : 1;
    const identity = identityOf(lock);
    if (identity === undefined) {
      throw new TypeError(
        `Cannot acquire all as part ${index} is not a Mutex or a Semaphore`,
      );
    }
    if (permits !== 1 && !(lock instanceof Semaphore)) {
      throw new TypeError(
        `Cannot acquire all as part ${index} ('${lock.name}') is a mutex: only a semaphore takes 'permits'`,
      );
    }
    if (!Number.isInteger(permits) || permits < 1) {
      throw new RangeError(
        `Cannot acquire all as 'permits' of part ${index} must be an integer >= 1: current value is ${permits}`,
      );
    }
    return { lock, permits, identity, index };
  });
  const seen = new Set<string>();
  for (const { identity, lock } of entries) {
    if (seen.has(identity)) {
      throw new TypeError(
        `Cannot acquire all as the lock '${lock.name}' is given twice`,
      );
    }
    seen.add(identity);
  }
  signal?.throwIfAborted();
  const ordered = [...entries].sort((a, b) =>
    a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0
  );
  const leases: Lease[] = new Array(parts.length);
  const taken: Lease[] = [];
  try {
    for (const { lock, permits, index } of ordered) {
      const lease = permits === 1
        ? await lock.acquire(signal)
        : await lock.acquire(
          { signal, permits } as Parameters<
            typeof lock.acquire
          >[0],
        );
      leases[index] = lease;
      taken.push(lease);
    }
  } catch (error) {
    // All or nothing: give back what was taken (a release that meets a
    // dropped connection is retried in the background by the lease).
    await Promise.allSettled(taken.map((lease) => lease.release()));
    throw error;
  }
  return new MultiLease(leases);
}
