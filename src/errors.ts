/**
 * Error classes of @redsync/core. Every error the library raises on purpose
 * extends {@linkcode RedsyncError}; arguments that are wrong before any Redis
 * call get the standard `TypeError` or `RangeError` instead.
 *
 * @module
 */

/**
 * Base class of every error raised by @redsync/core.
 *
 * @example Tell library errors apart from others
 * ```ts
 * import { RedsyncError } from "@redsync/core";
 * try {
 *   // ... use a client or a primitive
 * } catch (error) {
 *   if (error instanceof RedsyncError) console.error("redsync:", error.message);
 *   else throw error;
 * }
 * ```
 */
export class RedsyncError extends Error {
  /** Builds the error; `options.cause` is kept as `error.cause`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RedsyncError";
  }
}

/**
 * The Redis server answered a command with an error reply (`-ERR ...`,
 * `-WRONGTYPE ...`, `-NOSCRIPT ...`).
 *
 * @example Check the error code
 * ```ts
 * import { connect, RedisReplyError } from "@redsync/core";
 * await using redis = await connect("redis://127.0.0.1:6379");
 * await redis.send("SET", "k", "v");
 * try {
 *   await redis.send("LPUSH", "k", "x");
 * } catch (error) {
 *   if (error instanceof RedisReplyError && error.code === "WRONGTYPE") {
 *     console.log("not a list");
 *   }
 * }
 * ```
 */
export class RedisReplyError extends RedsyncError {
  /** The first word of the reply, such as `ERR`, `WRONGTYPE` or `NOSCRIPT`. */
  readonly code: string;
  /** Builds the error from the server's message (without the leading `-`). */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RedisReplyError";
    const space = message.indexOf(" ");
    this.code = space === -1 ? message : message.slice(0, space);
  }
}

/**
 * The connection to Redis could not be made, was reset or closed, or a
 * command got no answer within its timeout. Commands that were in flight when
 * a connection dropped fail with this error; they are never re-sent silently.
 *
 * @example Retry later when Redis is down
 * ```ts
 * import { connect, ConnectionError } from "@redsync/core";
 * try {
 *   await using redis = await connect({ port: 1, connectTimeoutMs: 500 });
 * } catch (error) {
 *   if (error instanceof ConnectionError) console.log("Redis is down:", error.message);
 * }
 * ```
 */
export class ConnectionError extends RedsyncError {
  /** Builds the error; `options.cause` keeps the underlying socket error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

/**
 * Redis cannot serve the request right now, but may soon: the connection
 * was lost (or is not back yet), or the server answered with a transient
 * state: `LOADING` (a restart loading its data), `BUSY` (a script runs too
 * long), `MASTERDOWN`, `CLUSTERDOWN`, `TRYAGAIN` (a failover or a
 * resharding in progress). A {@linkcode ConnectionError}, so code that
 * catches those catches it too. The primitives raise it once they stop
 * retrying: `tryAcquire()` after retrying within its bound, `release()`,
 * `extend()` and the events' methods. `client.send()` keeps the raw
 * {@linkcode RedisReplyError}.
 *
 * @example Tell "Redis is restarting" from a bug
 * ```ts
 * import { connect, Mutex, RedisUnavailableError } from "@redsync/core";
 * await using redis = await connect();
 * try {
 *   await using lease = await new Mutex(redis, "cron").tryAcquire();
 * } catch (error) {
 *   if (!(error instanceof RedisUnavailableError)) throw error;
 *   console.warn(`Redis unavailable (${error.code ?? "connection"}): skipping this run`);
 * }
 * ```
 */
export class RedisUnavailableError extends ConnectionError {
  /**
   * The server's error code (`LOADING`, `BUSY`, `MASTERDOWN`,
   * `CLUSTERDOWN`, `TRYAGAIN`), or `undefined` when the connection was lost.
   */
  readonly code: string | undefined;
  /** Builds the error; `options.cause` keeps the original error. */
  constructor(
    message: string,
    options?: ErrorOptions & { code?: string },
  ) {
    super(message, options);
    this.name = "RedisUnavailableError";
    this.code = options?.code;
  }
}

/**
 * The bytes received from the server do not follow RESP: unknown type byte,
 * bad length, missing line ending, unparsable number. The connection that
 * produced them cannot be trusted any more.
 *
 * @example
 * ```ts
 * import { RespProtocolError } from "./errors.ts";
 * import { RespDecoder } from "./resp/decoder.ts";
 * const decoder = new RespDecoder({ onReply() {} });
 * try {
 *   decoder.push(new TextEncoder().encode("?\r\n"));
 * } catch (error) {
 *   if (error instanceof RespProtocolError) decoder.reset();
 * }
 * ```
 */
export class RespProtocolError extends RedsyncError {
  /** Builds the error from a description of what was wrong. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RespProtocolError";
  }
}

/**
 * A lease ended before its holder released it: its time ran out (renewal
 * failed or was off) or it was removed. The work it protected may have run
 * beside another holder's: `lease.signal` aborts with this error the moment
 * the loss is known.
 *
 * @example
 * ```ts
 * import { connect, LockLostError, Mutex } from "@redsync/core";
 * await using redis = await connect();
 * const mutex = new Mutex(redis, "report");
 * await using lease = await mutex.acquire();
 * lease.signal.addEventListener("abort", () => {
 *   if (lease.signal.reason instanceof LockLostError) console.error("lost it!");
 * });
 * ```
 */
export class LockLostError extends RedsyncError {
  /** Name of the primitive whose lease was lost. */
  readonly lockName: string;
  /** Builds the error for the primitive `lockName`. */
  constructor(lockName: string, message?: string, options?: ErrorOptions) {
    super(
      message ?? `The lease on '${lockName}' was lost before it was released`,
      options,
    );
    this.name = "LockLostError";
    this.lockName = lockName;
  }
}

/**
 * An operation needs a lease that is not held: `extend()` after the lease
 * was released.
 *
 * @example
 * ```ts
 * import { connect, LockNotHeldError, Mutex } from "@redsync/core";
 * await using redis = await connect();
 * const lease = await new Mutex(redis, "job").acquire();
 * await lease.release();
 * await lease.extend().catch((e) => console.log(e instanceof LockNotHeldError)); // true
 * ```
 */
export class LockNotHeldError extends RedsyncError {
  /** Name of the primitive. */
  readonly lockName: string;
  /** Builds the error for the primitive `lockName`. */
  constructor(lockName: string, message?: string, options?: ErrorOptions) {
    super(message ?? `The lease on '${lockName}' is not held`, options);
    this.name = "LockNotHeldError";
    this.lockName = lockName;
  }
}

/**
 * A semaphore exists in Redis with another permit count than the one asked
 * for (by `Semaphore.create`, or a `Mutex` on a semaphore's name).
 *
 * @example
 * ```ts
 * import { connect, Semaphore, SemaphoreMismatchError } from "@redsync/core";
 * await using redis = await connect();
 * await Semaphore.create(redis, "pool", { permits: 5 });
 * await Semaphore.create(redis, "pool", { permits: 3 }).catch((e) => {
 *   if (e instanceof SemaphoreMismatchError) console.log(e.existing); // 5
 * });
 * ```
 */
export class SemaphoreMismatchError extends RedsyncError {
  /** Name of the semaphore. */
  readonly lockName: string;
  /** The permit count stored in Redis. */
  readonly existing: number;
  /** The permit count asked for. */
  readonly requested: number;
  /** Builds the error. */
  constructor(lockName: string, existing: number, requested: number) {
    super(
      `Semaphore '${lockName}' already exists with ${existing} permit(s), not ${requested}`,
    );
    this.name = "SemaphoreMismatchError";
    this.lockName = lockName;
    this.existing = existing;
    this.requested = requested;
  }
}

/**
 * A primitive was used after it was disposed.
 *
 * @example
 * ```ts
 * import { connect, DisposedError, Mutex } from "@redsync/core";
 * await using redis = await connect();
 * const mutex = new Mutex(redis, "job");
 * await mutex[Symbol.asyncDispose]();
 * await mutex.acquire().catch((e) => console.log(e instanceof DisposedError)); // true
 * ```
 */
export class DisposedError extends RedsyncError {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "DisposedError";
  }
}

/** One holder in a {@linkcode LockSnapshot}. */
export interface HolderSnapshot {
  /** Lease id (as `inspect()` lists it, and `forceRelease({ id })` takes). */
  id: string;
  /** Fencing token of the lease. */
  token: number;
  /** Permits it holds. */
  permits: number;
  /** What its `acquire({ meta })` said (who holds it and why), if anything. */
  meta?: string;
  /**
   * How long it had held the lock, in ms by the server's clock, read from
   * its fencing token (the server's clock in µs at the grant, or just
   * above it): never more than the real hold.
   */
  heldMs: number;
  /** Time left on its lease by the server's clock, in ms. */
  remainingMs: number;
}

/**
 * Who held a lock when a wait for it gave up: read once, right after the
 * timeout, within a small bound (see `LockTimeoutError.snapshot`).
 */
export interface LockSnapshot {
  /** Live leases, oldest expiry first. */
  holders: HolderSnapshot[];
  /** Queue length: entries still queued (live or not yet reaped). */
  queued: number;
  /** Waiters with a live heartbeat. */
  waiters: number;
  /** The server's clock when read (ms since the epoch). */
  serverTime: number;
}

/** "held by 'meta' (token 7, for 1.2 s, 3.4 s left), 2 queued". */
function describeSnapshot(snapshot: LockSnapshot): string {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const shown = snapshot.holders.slice(0, 3).map((h) =>
    `${
      h.meta === undefined ? "a holder" : `'${h.meta}'`
    } (token ${h.token}, for ${seconds(h.heldMs)}, ${
      seconds(h.remainingMs)
    } left)`
  );
  const more = snapshot.holders.length - shown.length;
  if (more > 0) shown.push(`${more} more`);
  const held = shown.length ? `held by ${shown.join(", ")}` : "no holder left";
  return `${held}, ${snapshot.queued} queued`;
}

/**
 * A wait for a lock ran out of the time it was given (`runExclusive` with
 * `wait: ms`). Plain `acquire(AbortSignal.timeout(ms))` rejects with the
 * standard `TimeoutError` instead. Its `snapshot` says who held the lock
 * then, and its message names the holder's `meta` when there is one.
 *
 * @example
 * ```ts
 * import { connect, LockTimeoutError, Mutex } from "@redsync/core";
 * await using redis = await connect();
 * const mutex = new Mutex(redis, "report");
 * try {
 *   await mutex.runExclusive(() => "done", { wait: 5_000 });
 * } catch (error) {
 *   if (error instanceof LockTimeoutError) {
 *     console.log(error.message); // "... held by 'host-a job 7' (token 9, for 12.0 s, 18.0 s left), 1 queued"
 *     console.log(error.snapshot?.holders[0]?.meta);
 *   }
 * }
 * ```
 */
export class LockTimeoutError extends RedsyncError {
  /** Name of the primitive. */
  readonly lockName: string;
  /** How long the caller was willing to wait, in ms. */
  readonly waitedMs: number;
  /**
   * Who held the lock when the wait gave up (holders with token, meta,
   * held for, lease left; queue length), read once after the timeout
   * within 500 ms; `undefined` when that read failed or was slow.
   */
  readonly snapshot: LockSnapshot | undefined;
  /** Builds the error; the message describes `options.snapshot` if given. */
  constructor(
    lockName: string,
    waitedMs: number,
    options?: ErrorOptions & { snapshot?: LockSnapshot },
  ) {
    const snapshot = options?.snapshot;
    super(
      `Timed out after ${waitedMs} ms waiting for '${lockName}'${
        snapshot ? `: ${describeSnapshot(snapshot)}` : ""
      }`,
      options,
    );
    this.name = "LockTimeoutError";
    this.lockName = lockName;
    this.waitedMs = waitedMs;
    this.snapshot = snapshot;
  }
}

/**
 * Fewer replicas acknowledged a grant or a renewal than the primitive's
 * `durability.replicas` within `durability.timeoutMs`: with
 * `onShortfall: "fail"` the permit was given back (an `acquire()` then
 * tries again within its signal; a renewal counts as failed); with
 * `"warn"` it is only reported (`shortfall` event, logger).
 *
 * @example
 * ```ts
 * import { connect, DurabilityError, Mutex } from "@redsync/core";
 * await using redis = await connect();
 * const mutex = new Mutex(redis, "payout", {
 *   durability: { replicas: 1, onShortfall: "warn" },
 * });
 * mutex.addEventListener("shortfall", (event) => {
 *   const error = event.reason as DurabilityError;
 *   console.warn(`${error.acknowledged}/${error.wanted} replicas`);
 * });
 * ```
 */
export class DurabilityError extends RedsyncError {
  /** Replicas that acknowledged. */
  readonly acknowledged: number;
  /** Replicas that should have. */
  readonly wanted: number;
  /** Builds the error from the counts. */
  constructor(
    message: string,
    acknowledged: number,
    wanted: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "DurabilityError";
    this.acknowledged = acknowledged;
    this.wanted = wanted;
  }
}
