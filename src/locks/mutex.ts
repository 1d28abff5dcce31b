/**
 * A distributed mutex: at most one holder at a time across every process
 * that uses the same name on the same Redis.
 *
 * @module
 */
import { checkClient, type RedisClient } from "../client/client.ts";
import type { Lease } from "./lease.ts";
import { checkName } from "./keys.ts";
import {
  type AcquireOptions,
  type LockOptions,
  resolveLockOptions,
  toAcquireOptions,
} from "./options.ts";
import { engineOf, LockPrimitive, setUpEngine } from "./primitive.ts";
import type { RunOptions } from "./run_exclusive.ts";

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
export class Mutex extends LockPrimitive<RunOptions & { meta?: string }> {
  /**
   * Describes the mutex; nothing is sent to Redis until `acquire()`. Throws
   * `TypeError`/`RangeError` for a bad name or options.
   */
  constructor(client: RedisClient, name: string, options?: LockOptions) {
    checkClient("create a mutex", client);
    super(checkName("create a mutex", name));
    const resolved = resolveLockOptions("create a mutex", options);
    setUpEngine(this, {
      client,
      limit: 1,
      keepMeta: false,
      idleTtlMs: 0,
      options: resolved,
    });
  }

  /**
   * Waits for the mutex and resolves with its lease. Rejects with
   * `signal.reason` when the signal aborts (a `TimeoutError` for
   * `AbortSignal.timeout(ms)`); an aborted acquire never keeps the mutex.
   * `meta` (who holds it and why) is stored with the lease for `inspect()`.
   *
   * @example
   * ```ts
   * import { connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * const mutex = new Mutex(redis, "migrations");
   * await using lease = await mutex.acquire({
   *   signal: AbortSignal.timeout(60_000),
   *   meta: "host-a pid 42 job 7",
   * });
   * ```
   */
  override async acquire(
    signal?: AbortSignal | AcquireOptions,
  ): Promise<Lease> {
    const { signal: abort, meta } = toAcquireOptions("acquire", signal);
    return (await engineOf(this).acquire(1, "wait", abort, meta))!;
  }

  /**
   * Takes the mutex if it is free right now; resolves `undefined` when
   * another process holds it (or waits for it). Never waits for the mutex:
   * it makes one round trip to Redis, which `signal` bounds (it rejects
   * with `signal.reason`) and the client's `commandTimeoutMs` does: while
   * Redis cannot answer (unreachable, `LOADING`, `BUSY`, a failover), it
   * retries within that bound, then rejects with `RedisUnavailableError`
   * (a `ConnectionError`, with the server's `code`). Takes `meta` as
   * `acquire()` does.
   *
   * @example Skip if someone else runs it
   * ```ts
   * import { connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * await using lease = await new Mutex(redis, "cron:cleanup").tryAcquire();
   * if (!lease) console.log("another instance is on it");
   * ```
   *
   * @example At most 500 ms, even while Redis is unreachable
   * ```ts
   * import { connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * const mutex = new Mutex(redis, "cron:cleanup");
   * await using lease = await mutex.tryAcquire(AbortSignal.timeout(500));
   * ```
   */
  override async tryAcquire(
    signal?: AbortSignal | AcquireOptions,
  ): Promise<Lease | undefined> {
    const { signal: abort, meta } = toAcquireOptions("tryAcquire", signal);
    return await engineOf(this).acquire(1, "try", abort, meta);
  }
}
