/**
 * A distributed read-write lock: many readers at once, or one writer,
 * across every process that uses the same name on the same Redis; served
 * in arrival order, so neither side starves.
 *
 * @module
 */
import { AbortScope } from "../_internal/abort_scope.ts";
import {
  checkClient,
  internalsOf,
  type RedisClient,
} from "../client/client.ts";
import { DisposedError, SemaphoreMismatchError } from "../errors.ts";
import type { LockInfo } from "./info.ts";
import { LockEventTarget, Observer } from "../observe.ts";
import { abortable } from "../_internal/async.ts";
import { retryTransient } from "../_internal/transient.ts";
import { checkInteger } from "../_internal/validate.ts";
import { LockEngine } from "./engine.ts";
import { checkName, keysOf } from "./keys.ts";
import type { Lease } from "./lease.ts";
import {
  type AcquireOptions,
  type LockOptions,
  resolveLockOptions,
  toAcquireOptions,
} from "./options.ts";
import {
  type Exclusive,
  runExclusive,
  type RunOptions,
  type RunResult,
} from "./run_exclusive.ts";
import { INIT } from "./scripts.ts";
import { MAX_PERMITS } from "./semaphore.ts";

/**
 * The lock's permit count, stored in Redis as its mark: a reader takes one
 * permit, a writer all of them. So at most this many readers hold at once
 * (more queue), and a mutex or a semaphore of another count is refused on
 * the same name.
 */
const PERMITS = MAX_PERMITS;

const DAY_MS = 86_400_000;

/**
 * Options of {@linkcode ReadWriteLock}: those of every lock, and how long
 * Redis keeps the lock's definition.
 *
 * @example
 * ```ts
 * import { connect, ReadWriteLock, type ReadWriteLockOptions } from "@redsync/core";
 * await using redis = await connect();
 * const options: ReadWriteLockOptions = { leaseMs: 10_000, idleTtlMs: 86_400_000 };
 * const config = new ReadWriteLock(redis, "config", options);
 * ```
 */
export interface ReadWriteLockOptions extends LockOptions {
  /**
   * How long Redis keeps the lock's definition (the permit count that marks
   * the name as a read-write lock) after its last use, in ms. Every
   * `read()` and `write()` refreshes it.
   * @default {604800000} (7 days)
   */
  idleTtlMs?: number;
}

/**
 * Many readers at once, or one writer. Waiters are served in arrival order
 * (server time): a writer that waits stops later readers from joining the
 * readers who hold, and the readers queued behind a writer are all let in
 * together once it leaves. So writers do not starve under a steady stream
 * of readers, nor readers under a stream of writers.
 *
 * Leases are those of a {@linkcode Mutex}: renewed in the background,
 * lost when not renewed in time (a crashed holder frees the lock when its
 * lease ends), released with `await using`. Every lease has a fencing
 * token from one counter per name, so a write's token is larger than the
 * token of every read and write granted before it. A read lease holds 1
 * permit (`lease.permits`), a write lease all 100,000.
 *
 * The name is marked in Redis as a read-write lock (a stored count of
 * 100,000 permits, as {@linkcode Semaphore.create} would store it): the
 * first `read()`/`write()` of each object checks it once, and refuses with
 * `SemaphoreMismatchError` a name that a {@linkcode Mutex} or a semaphore
 * of another count uses; a `Mutex` on a read-write lock's name is refused
 * the same way. `inspect()` shows it as 100,000 permits.
 *
 * @example
 * ```ts
 * import { connect, ReadWriteLock } from "@redsync/core";
 * await using redis = await connect();
 * const lock = new ReadWriteLock(redis, "config", { leaseMs: 10_000 });
 * {
 *   await using read = await lock.read(AbortSignal.timeout(5_000));
 *   // other readers may be here too; no writer is
 * }
 * {
 *   await using write = await lock.write(AbortSignal.timeout(5_000));
 *   console.log("alone; fencing token", write.token);
 * }
 * ```
 */
export class ReadWriteLock extends LockEventTarget implements AsyncDisposable {
  /** The name shared by every process that uses this lock. */
  readonly name: string;
  readonly #client: RedisClient;
  readonly #engine: LockEngine;
  readonly #observer: Observer;
  readonly #keys: string[];
  readonly #idleTtlMs: number;
  /** Aborts the checks in flight when disposed (one signal each). */
  readonly #disposed = new AbortScope();
  /** The name's check in flight, or `true` once it passed. */
  #checked: Promise<void> | true | undefined;

  /**
   * Describes the lock; nothing is sent to Redis until `read()` or
   * `write()`. Throws `TypeError`/`RangeError` for a bad name or options.
   *
   * @example
   * ```ts
   * import { connect, ReadWriteLock } from "@redsync/core";
   * await using redis = await connect();
   * const lock = new ReadWriteLock(redis, "catalog", { wait: "polling" });
   * ```
   */
  constructor(
    client: RedisClient,
    name: string,
    options?: ReadWriteLockOptions,
  ) {
    const action = "create a read-write lock";
    checkClient(action, client);
    super();
    this.name = checkName(action, name);
    const resolved = resolveLockOptions(action, options);
    const idleTtlMs = options?.idleTtlMs ?? 7 * DAY_MS;
    checkInteger(action, "idleTtlMs", idleTtlMs, 1_000, 2 ** 31 - 1);
    this.#client = client;
    this.#idleTtlMs = idleTtlMs;
    this.#keys = keysOf(resolved.prefix, name).script;
    this.#observer = new Observer(
      this,
      name,
      resolved.logger,
      resolved.metrics,
    );
    this.#engine = new LockEngine({
      client,
      name,
      limit: PERMITS,
      keepMeta: true,
      kind: "read-write-lock",
      idleTtlMs,
      options: resolved,
      observer: this.#observer,
    });
  }

  /**
   * Waits for a read lease: shared with other readers, never with a
   * writer. Waits behind a writer that holds or waits, even if readers
   * hold. Rejects with `signal.reason` when the signal aborts; an aborted
   * `read()` keeps nothing and leaves no place in the queue.
   *
   * @example
   * ```ts
   * import { connect, ReadWriteLock } from "@redsync/core";
   * await using redis = await connect();
   * const lock = new ReadWriteLock(redis, "prices");
   * await using lease = await lock.read(AbortSignal.timeout(5_000));
   * await fetch("https://example.com/prices", { signal: lease.signal });
   * ```
   */
  async read(signal?: AbortSignal | AcquireOptions): Promise<Lease> {
    const { signal: abort, meta } = toAcquireOptions("read", signal);
    await this.#check(abort, true);
    return (await this.#engine.acquire(1, "wait", abort, meta))!;
  }

  /**
   * Waits for the write lease: nobody else holds while it is held. Rejects
   * with `signal.reason` when the signal aborts; an aborted `write()` keeps
   * nothing and leaves no place in the queue (the readers behind it go
   * on). With `wait: "polling"` a writer that cannot get in joins the queue
   * at once (a poller reading its grant at its next poll), so readers
   * cannot keep it out either.
   *
   * @example
   * ```ts
   * import { connect, ReadWriteLock } from "@redsync/core";
   * await using redis = await connect();
   * const lock = new ReadWriteLock(redis, "prices");
   * await using lease = await lock.write({ signal: AbortSignal.timeout(30_000) });
   * await redis.send("SET", "prices:version", lease.token);
   * ```
   */
  async write(signal?: AbortSignal | AcquireOptions): Promise<Lease> {
    const { signal: abort, meta } = toAcquireOptions("write", signal);
    await this.#check(abort, true);
    return (await this.#engine.acquire(PERMITS, "queue", abort, meta))!;
  }

  /**
   * Takes a read lease if that is possible right now: no writer holds and
   * nobody queues. Resolves `undefined` otherwise. Never waits for the
   * lock: its round trips are bounded by `signal` (then it rejects with
   * `signal.reason`) and by the client's `commandTimeoutMs` (then, while
   * Redis cannot answer, with `RedisUnavailableError`).
   *
   * @example
   * ```ts
   * import { connect, ReadWriteLock } from "@redsync/core";
   * await using redis = await connect();
   * await using lease = await new ReadWriteLock(redis, "prices").tryRead();
   * if (!lease) console.log("a writer holds or waits");
   * ```
   */
  async tryRead(
    signal?: AbortSignal | AcquireOptions,
  ): Promise<Lease | undefined> {
    const { signal: abort, meta } = toAcquireOptions("tryRead", signal);
    await this.#check(abort, false);
    return await this.#engine.acquire(1, "try", abort, meta);
  }

  /**
   * Takes the write lease if nobody holds nor waits right now; resolves
   * `undefined` otherwise. Never waits for the lock (bounded as
   * {@linkcode ReadWriteLock.tryRead}).
   *
   * @example
   * ```ts
   * import { connect, ReadWriteLock } from "@redsync/core";
   * await using redis = await connect();
   * await using lease = await new ReadWriteLock(redis, "prices").tryWrite();
   * if (!lease) console.log("in use: try later");
   * ```
   */
  async tryWrite(
    signal?: AbortSignal | AcquireOptions,
  ): Promise<Lease | undefined> {
    const { signal: abort, meta } = toAcquireOptions("tryWrite", signal);
    await this.#check(abort, false);
    return await this.#engine.acquire(PERMITS, "try", abort, meta);
  }

  /**
   * Reads under the lock: acquires a read lease, runs `fn` with a signal
   * that aborts if the lease is lost (or `options.signal` aborts), and
   * always releases. `wait` as for `Mutex.runExclusive`: `"forever"`
   * (default), a number of ms (then `LockTimeoutError`), or `"skip"`
   * (`{ ran: false }` when it cannot read right now).
   *
   * @example
   * ```ts
   * import { connect, ReadWriteLock } from "@redsync/core";
   * await using redis = await connect();
   * const lock = new ReadWriteLock(redis, "prices");
   * const result = await lock.runRead(() => redis.send("GET", "prices"), { wait: 5_000 });
   * if (result.ran) console.log(result.value);
   * ```
   */
  runRead<T>(fn: Exclusive<T>, options?: RunOptions): Promise<RunResult<T>> {
    return runExclusive(
      this.name,
      (signal) => this.read(signal),
      (signal) => this.tryRead(signal),
      fn,
      options,
    );
  }

  /**
   * Writes under the lock: as {@linkcode ReadWriteLock.runRead}, with the
   * write lease.
   *
   * @example
   * ```ts
   * import { connect, ReadWriteLock } from "@redsync/core";
   * await using redis = await connect();
   * const lock = new ReadWriteLock(redis, "prices");
   * await lock.runWrite(async (signal, lease) => {
   *   await redis.command(["SET", "prices", "{}"], { signal });
   *   await redis.send("SET", "prices:token", lease.token);
   * });
   * ```
   */
  runWrite<T>(fn: Exclusive<T>, options?: RunOptions): Promise<RunResult<T>> {
    return runExclusive(
      this.name,
      (signal) => this.write(signal),
      (signal) => this.tryWrite(signal),
      fn,
      options,
    );
  }

  /**
   * Reads the lock's state in Redis now (see {@linkcode LockInfo}): each
   * holder's permits tell a reader (1) from the writer (100,000).
   *
   * @example
   * ```ts
   * import { connect, ReadWriteLock } from "@redsync/core";
   * await using redis = await connect();
   * const info = await new ReadWriteLock(redis, "prices").info();
   * const readers = info.holders.filter((h) => h.permits === 1).length;
   * console.log(`${readers} readers, ${info.waiters} waiting`);
   * ```
   */
  info(): Promise<LockInfo> {
    return this.#engine.info();
  }

  /**
   * Releases the leases this object handed out and still holds, and makes
   * pending `read()`s and `write()`s reject with `DisposedError`; later
   * calls reject too.
   *
   * @example
   * ```ts
   * import { connect, ReadWriteLock } from "@redsync/core";
   * await using redis = await connect();
   * await using lock = new ReadWriteLock(redis, "prices");
   * const lease = await lock.read();
   * // leaving the scope releases `lease` if still held
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#disposed.abort(this.#disposedError());
    await this.#engine.dispose();
  }

  #disposedError(): DisposedError {
    return new DisposedError(`Cannot use '${this.name}' as it was disposed`);
  }

  /**
   * Checks once per object that the name is a read-write lock (or free:
   * then marks it). A wait retries transient errors until its signal; a
   * try within the client's `commandTimeoutMs` too, as `tryAcquire()` does.
   */
  async #check(signal: AbortSignal | undefined, wait: boolean): Promise<void> {
    if (this.#checked === true) return;
    const scoped = this.#disposed.open(signal);
    const abort = scoped.signal;
    const once = () => abortable(this.#define(), abort);
    try {
      await retryTransient(once, {
        signal: abort,
        closed: () => this.#client.closed,
        onRetry: (error) => this.#observer.waitRetry(error),
        until: wait
          ? Infinity
          : performance.now() + internalsOf(this.#client).commandTimeoutMs,
      });
    } finally {
      scoped.done();
    }
  }

  /**
   * `INIT` of the count, shared by the calls that need it at once. It
   * answers the count stored (stored now if the name was free), or 1 for a
   * name a mutex holds or waits for. A failure is not kept: the next call
   * asks again.
   */
  #define(): Promise<void> {
    if (this.#checked === true) return Promise.resolve();
    if (this.#checked) return this.#checked;
    const run = INIT.run(this.#client, this.#keys, [
      PERMITS,
      this.#idleTtlMs,
      "read-write-lock",
    ])
      .then((stored) => {
        if (stored !== PERMITS) {
          throw new SemaphoreMismatchError(this.name, stored, PERMITS);
        }
        this.#checked = true;
      });
    run.catch(() => {
      if (this.#checked === run) this.#checked = undefined;
    });
    this.#checked = run;
    return run;
  }
}
