/**
 * What `Mutex` and `Semaphore` share: the engine behind them (composition:
 * neither is a subclass of the other), `runExclusive`, `info` and dispose,
 * with their docs, once.
 *
 * @module
 */
import type { RedisClient } from "../client/client.ts";
import type { LockInfo } from "./info.ts";
import { LockEventTarget, Observer } from "../observe.ts";
import { LockEngine } from "./engine.ts";
import { keyBase } from "./keys.ts";
import type { Lease } from "./lease.ts";
import type { AcquireOptions, ResolvedLockOptions } from "./options.ts";
import {
  type Exclusive,
  runExclusive,
  type RunOptions,
  type RunResult,
} from "./run_exclusive.ts";

/** The engine of each primitive, kept out of the public surface. */
const engines = new WeakMap<LockPrimitive<RunOptions>, LockEngine>();

/** @internal Where a primitive lives (see `identityOf`). */
export interface LockIdentity {
  /**
   * `prefix\0name`: the same for every process that uses the lock (the
   * order `acquireAll` takes locks in).
   */
  readonly lock: string;
  /** The lock's key base, `prefix:{name}` (routes to its cluster node). */
  readonly key: string;
  /** The client the primitive uses (its server breaks ties of `lock`). */
  readonly client: RedisClient;
}

/** Where each primitive lives (see `identityOf`). */
const identities = new WeakMap<LockPrimitive<RunOptions>, LockIdentity>();

/** @internal Where `primitive` lives, `undefined` for a foreign object. */
export function identityOf(
  primitive: LockPrimitive<RunOptions>,
): LockIdentity | undefined {
  return identities.get(primitive);
}

/** @internal The engine behind `primitive` (for `Mutex` and `Semaphore`). */
export function engineOf(primitive: LockPrimitive<RunOptions>): LockEngine {
  return engines.get(primitive)!;
}

/** @internal What a primitive's engine is built from. */
export interface PrimitiveSetup {
  client: RedisClient;
  limit: number;
  keepMeta: boolean;
  idleTtlMs: number;
  options: ResolvedLockOptions;
}

/** @internal Builds the engine of `primitive` (called once, by its constructor). */
export function setUpEngine(
  primitive: LockPrimitive<RunOptions>,
  setup: PrimitiveSetup,
): void {
  const { options } = setup;
  const observer = new Observer(
    primitive,
    primitive.name,
    options.logger,
    options.metrics,
  );
  engines.set(
    primitive,
    new LockEngine({ ...setup, name: primitive.name, observer }),
  );
  identities.set(primitive, {
    lock: `${options.prefix}\0${primitive.name}`,
    key: keyBase(options.prefix, primitive.name),
    client: setup.client,
  });
}

/**
 * The base of the lock primitives ({@linkcode Mutex} and
 * {@linkcode Semaphore}): a {@linkcode LockEventTarget} with
 * `runExclusive`, `info` and `await using`. Not meant to be extended
 * outside this library.
 *
 * @typeParam R The options of `runExclusive` (a semaphore's take `permits`).
 *
 * @example
 * ```ts
 * import { connect, type LockPrimitive, Mutex, Semaphore } from "@redsync/core";
 * await using redis = await connect();
 * const locks: LockPrimitive[] = [
 *   new Mutex(redis, "a"),
 *   await Semaphore.create(redis, "b", { permits: 2 }),
 * ];
 * for (const lock of locks) console.log(lock.name, (await lock.info()).holders.length);
 * ```
 */
export abstract class LockPrimitive<R extends RunOptions = RunOptions>
  extends LockEventTarget
  implements AsyncDisposable {
  /** The name shared by every process that uses this primitive. */
  readonly name: string;

  /** @internal Subclasses call `setUpEngine(this, ...)` next. */
  protected constructor(name: string) {
    super();
    this.name = name;
  }

  /**
   * Waits for the lock and resolves with its lease; rejects with
   * `signal.reason` when the signal aborts, and never keeps the lock then.
   */
  abstract acquire(
    signal?: AbortSignal | (Omit<R, "wait"> & AcquireOptions),
  ): Promise<Lease>;

  /**
   * Takes the lock if it is free right now; resolves `undefined` otherwise.
   * Never waits for the lock: its round trips are bounded by `signal`
   * and by the client's `commandTimeoutMs`, within which it retries while
   * Redis cannot answer, then rejects with `RedisUnavailableError`.
   */
  abstract tryAcquire(
    signal?: AbortSignal | (Omit<R, "wait"> & AcquireOptions),
  ): Promise<Lease | undefined>;

  /**
   * Acquires, runs `fn` with a signal that aborts if the lease is lost (or
   * `options.signal` aborts), and always releases. `wait`: `"forever"`
   * (default), a number of ms (then `LockTimeoutError`), or `"skip"`: when
   * the lock is taken, resolve `{ ran: false }` at once, a normal result
   * rather than an error. A semaphore also takes `permits`.
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
   *
   * @example At most 5 calls at once, waiting up to 10 s for a permit
   * ```ts
   * import { connect, Semaphore } from "@redsync/core";
   * await using redis = await connect();
   * const api = await Semaphore.create(redis, "partner-api", { permits: 5 });
   * const { ran } = await api.runExclusive(async (signal) => {
   *   await fetch("https://example.com/api", { signal });
   * }, { wait: 10_000 });
   * ```
   */
  runExclusive<T>(fn: Exclusive<T>, options?: R): Promise<RunResult<T>> {
    const { wait: _wait, signal: _signal, ...rest } = options ?? {} as R;
    const extra = rest as Omit<R, "wait" | "signal">;
    return runExclusive(
      this.name,
      (signal) =>
        this.acquire({ ...extra, signal } as Omit<R, "wait"> & AcquireOptions),
      (signal) =>
        this.tryAcquire(
          { ...extra, signal } as Omit<R, "wait"> & AcquireOptions,
        ),
      fn,
      options,
    );
  }

  /**
   * Reads this primitive's state in Redis now: holders with their
   * remaining lease and token, live waiters, key TTLs (see
   * {@linkcode LockInfo}).
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
    return engineOf(this).info();
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
    return engineOf(this).dispose();
  }
}
