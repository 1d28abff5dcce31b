/**
 * A distributed mutex: at most one holder at a time across every process
 * that uses the same name on the same Redis.
 *
 * @module
 */
import type { RedisClient } from "../client/client.ts";
import type { LockInfo } from "../inspect.ts";
import type { Lease } from "./lease.ts";
import {
  type Exclusive,
  runExclusive,
  type RunOptions,
  type RunResult,
} from "./run_exclusive.ts";
import {
  type AcquireOptions,
  type LockOptions,
  resolveLockOptions,
  toAcquireOptions,
} from "./options.ts";
import { LockEventTarget, Observer } from "../observe.ts";
import { Permits } from "./engine.ts";
import { checkName } from "./keys.ts";

/**
 * Only one holder at a time. A holder that dies frees the mutex when its
 * lease ends (`leaseMs`); a live holder renews its lease in the background.
 * Waiters block in Redis and are handed the mutex in arrival order, without
 * polling (or poll, with `wait: "polling"`).
 *
 * @example
 * ```ts
 * import { connect, Mutex } from "@redsync/core";
 * await using redis = await connect();
 * const mutex = new Mutex(redis, "nightly-report", { leaseMs: 30_000 });
 * {
 *   await using lease = await mutex.acquire(AbortSignal.timeout(5_000));
 *   console.log("only one of us runs this; token", lease.token);
 * } // released here, even on throw
 * ```
 */
export class Mutex extends LockEventTarget implements AsyncDisposable {
  /** The name shared by every process that uses this mutex. */
  readonly name: string;
  readonly #permits: Permits;

  /**
   * Describes the mutex; nothing is sent to Redis until `acquire()`. Throws
   * `TypeError`/`RangeError` for a bad name or options.
   */
  constructor(client: RedisClient, name: string, options?: LockOptions) {
    super();
    this.name = checkName("create a mutex", name);
    const resolved = resolveLockOptions("create a mutex", options);
    this.#permits = new Permits({
      client,
      name,
      limit: 1,
      keepMeta: false,
      idleTtlMs: 0,
      options: resolved,
      observer: new Observer(this, name, resolved.logger, resolved.metrics),
    });
  }

  /**
   * Waits for the mutex and resolves with its lease. Rejects with
   * `signal.reason` when the signal aborts (a `TimeoutError` for
   * `AbortSignal.timeout(ms)`); an aborted acquire never keeps the mutex.
   *
   * @example
   * ```ts
   * import { connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * const mutex = new Mutex(redis, "migrations");
   * await using lease = await mutex.acquire({ signal: AbortSignal.timeout(60_000) });
   * ```
   */
  async acquire(signal?: AbortSignal | AcquireOptions): Promise<Lease> {
    const { signal: abort } = toAcquireOptions("acquire", signal);
    return (await this.#permits.acquire(1, "wait", abort))!;
  }

  /**
   * Takes the mutex if it is free right now; resolves `undefined` when
   * another process holds it (or waits for it). Never waits.
   *
   * @example Skip if someone else runs it
   * ```ts
   * import { connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * await using lease = await new Mutex(redis, "cron:cleanup").tryAcquire();
   * if (!lease) console.log("another instance is on it");
   * ```
   */
  tryAcquire(): Promise<Lease | undefined> {
    return this.#permits.acquire(1, "try", undefined);
  }

  /**
   * Acquires, runs `fn` with a signal that aborts if the lease is lost, and
   * always releases. `wait`: `"forever"` (default), a number of ms (then
   * `LockTimeoutError`), or `"skip"`: when the mutex is taken, resolve
   * `{ ran: false }` at once, a normal result rather than an error.
   *
   * @example Run the nightly job on one instance only; the others skip
   * ```ts
   * import { connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * const result = await new Mutex(redis, "nightly").runExclusive(
   *   async (signal) => {
   *     await fetch("https://example.com/job", { method: "POST", signal });
   *     return "done";
   *   },
   *   { wait: "skip" },
   * );
   * if (!result.ran) console.log("another instance is running it");
   * ```
   */
  runExclusive<T>(
    fn: Exclusive<T>,
    options?: RunOptions,
  ): Promise<RunResult<T>> {
    return runExclusive(
      this.name,
      (signal) => this.acquire(signal),
      () => this.tryAcquire(),
      fn,
      options,
    );
  }

  /**
   * Reads this mutex's state in Redis now: holders with their remaining
   * lease and token, live waiters, key TTLs (see {@linkcode LockInfo}).
   *
   * @example
   * ```ts
   * import { connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * const lock = new Mutex(redis, "report");
   * const info = await lock.info();
   * console.log(info.holders.map((h) => `${h.token}: ${h.remainingMs} ms left`));
   * ```
   */
  info(): Promise<LockInfo> {
    return this.#permits.info();
  }

  /**
   * Releases the leases this object handed out and still holds, and makes
   * pending `acquire()`s reject with `DisposedError`; later calls reject too.
   *
   * @example
   * ```ts
   * import { connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * await using mutex = new Mutex(redis, "job");
   * const lease = await mutex.acquire();
   * // leaving the scope releases `lease` if still held
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#permits.dispose();
  }
}
