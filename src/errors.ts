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

/**
 * A wait for a lock ran out of the time it was given (`runExclusive` with
 * `wait: ms`). Plain `acquire(AbortSignal.timeout(ms))` rejects with the
 * standard `TimeoutError` instead.
 *
 * @example
 * ```ts
 * import { connect, LockTimeoutError, Mutex } from "@redsync/core";
 * await using redis = await connect();
 * const mutex = new Mutex(redis, "report");
 * try {
 *   await mutex.runExclusive(() => "done", { wait: 5_000 });
 * } catch (error) {
 *   if (error instanceof LockTimeoutError) console.log(`busy for ${error.waitedMs} ms`);
 * }
 * ```
 */
export class LockTimeoutError extends RedsyncError {
  /** Name of the primitive. */
  readonly lockName: string;
  /** How long the caller was willing to wait, in ms. */
  readonly waitedMs: number;
  /** Builds the error. */
  constructor(lockName: string, waitedMs: number, options?: ErrorOptions) {
    super(
      `Timed out after ${waitedMs} ms waiting for '${lockName}'`,
      options,
    );
    this.name = "LockTimeoutError";
    this.lockName = lockName;
    this.waitedMs = waitedMs;
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
