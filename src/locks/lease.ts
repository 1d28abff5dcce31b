/**
 * A held permit: its fencing token, its `AbortSignal` that fires when it is
 * lost, release, extension, and background renewal. Shared by every
 * lock-like primitive.
 *
 * @module
 */
import { LockLostError, LockNotHeldError } from "../errors.ts";
import { isTransientError, unavailable } from "../_internal/transient.ts";
import { leaseSchedule, type Scheduled } from "../_internal/schedule.ts";

/**
 * What a lease needs from the primitive that issued it; `L` is the lease
 * type (`Lease`, which imports this file).
 */
export interface LeaseBackend<L> {
  /** Name of the primitive, for errors. */
  readonly name: string;
  /**
   * Runs the release script: 1 released, -1/0 was not held any more.
   * `atOnce`: in one command written now (for cleanups nobody awaits).
   */
  release(id: string, atOnce?: boolean): Promise<number>;
  /**
   * Releases in the background, retried until it lands or `untilMs`
   * (`performance.now()` time) makes it moot; the first attempt is written
   * now, as one `EVAL`.
   */
  releaseLater(id: string, untilMs: number): void;
  /** Runs the extend script: the new lease length in ms, 0 when not held. */
  extend(id: string, leaseMs: number): Promise<number>;
  /** Called once when the lease ends (released or lost), after `heldMs`. */
  settle(lease: L, lost: LockLostError | undefined, heldMs: number): void;
  /** A renewal succeeded. */
  renewed(lease: L): void;
  /** A renewal attempt failed; it is retried while the lease may live. */
  renewalFailed(lease: L, error: unknown): void;
  /** The client is closed: no command can be sent any more. */
  readonly closed: boolean;
}

/** How a lease renews itself. */
export interface LeaseTiming {
  /** Lease length asked for, in ms. */
  leaseMs: number;
  /** Renew in the background. */
  renew: boolean;
  /** Time left on the server when the grant was read (ms). */
  leftMs: number;
  /** `performance.now()` when the request that granted the lease was sent. */
  sentAt: number;
  /** Longest hold in ms from the lease's start (`LockOptions.maxHoldMs`). */
  maxHoldMs?: number;
  /**
   * `performance.now()` when the lease is handed out (its start), if the
   * caller just read it.
   * @default {performance.now()}
   */
  now?: number;
}

type State = "held" | "releasing" | "released" | "lost";

/** Set by `Lease`'s static block: its constructor stays private. */
let construct: (...args: Parameters<typeof createLease>) => Lease;

let retryNow: (lease: Lease) => void;
let endNow: (lease: Lease) => Promise<void>;

/**
 * Ends `lease` because its client closes: `signal` aborts with a
 * `LockLostError` saying so, and the permit is released at once (the
 * `RELEASE` is written before the client's connections close). A lease
 * whose `release()` is already in flight is left to it (one end per
 * lease): the promise resolves once that release is answered, so the
 * client can wait for it before closing its connections.
 */
export function endWithClient(lease: Lease): Promise<void> {
  return endNow(lease);
}

/**
 * Renews `lease` now if its last renewal failed and waits for a retry: the
 * client calls it when its connection is back.
 */
export function retryRenewal(lease: Lease): void {
  retryNow(lease);
}

/** Starts a lease (the engine's factory; users get leases from `acquire()`). */
export function createLease(
  backend: LeaseBackend<Lease>,
  id: string,
  token: number,
  permits: number,
  timing: LeaseTiming,
): Lease {
  return construct(backend, id, token, permits, timing);
}

/**
 * A permit of a `Mutex` or `Semaphore`, held until released or lost. Use it
 * with `await using` so it is released at the end of the scope, even on
 * throw.
 *
 * Release semantics: `release()` resolves once the permit is given back,
 * and does nothing when called again. If the lease was lost before,
 * `release()` rejects with `LockLostError` (the work it protected was not
 * exclusive); disposing (`await using`) never throws for a loss, which
 * `signal` and `onLost` already report.
 *
 * @example
 * ```ts
 * import { connect, Mutex } from "@redsync/core";
 * await using redis = await connect();
 * const mutex = new Mutex(redis, "nightly-report");
 * {
 *   await using lease = await mutex.acquire(AbortSignal.timeout(5_000));
 *   console.log("fencing token", lease.token);
 *   await fetch("https://example.com/", { signal: lease.signal });
 * } // released here
 * ```
 */
export class Lease implements AsyncDisposable {
  /** Name of the primitive this lease belongs to. */
  readonly name: string;
  /**
   * Fencing token: strictly increasing per primitive over its whole life.
   * Pass it to the protected resource and have it reject smaller ones.
   */
  readonly token: number;
  /** Permits this lease holds (1 for a mutex). */
  readonly permits: number;
  /** Aborts with `LockLostError` when the lease is lost. */
  readonly signal: AbortSignal;
  /**
   * Id of the lease in Redis: what `inspect()` lists as a holder's `id` and
   * what `forceRelease({ id })` or the CLI's `release --id` take.
   */
  readonly id: string;

  readonly #backend: LeaseBackend<Lease>;
  readonly #controller = new AbortController();
  readonly #leaseMs: number;
  readonly #renew: boolean;
  #state: State = "held";
  #deadline: number;
  // On the process's shared schedule, not a runtime timer each.
  #renewTimer: Scheduled | undefined;
  #deadlineTimer: Scheduled | undefined;
  #releasing: Promise<void> | undefined;
  readonly #acquiredAt: number;
  readonly #holdEnd: number; // when `maxHoldMs` is reached (or `Infinity`)

  /** A renewal failed and a retry is scheduled. */
  #retrying = false;

  static {
    construct = (...args) => new Lease(...args);
    retryNow = (lease) => lease.#retryNow();
    endNow = (lease) => {
      if (lease.#releasing) return lease.#releasing.then(() => {}, () => {});
      lease.#lose("The lease on '%s' was released as its client closed");
      return Promise.resolve();
    };
  }

  /** Retries a failed renewal at once (the connection is back). */
  #retryNow(): void {
    if (!this.#retrying || this.#state !== "held") return;
    leaseSchedule.cancel(this.#renewTimer);
    this.#renewTimer = undefined;
    this.#retrying = false;
    this.#renewNow();
  }

  private constructor(
    backend: LeaseBackend<Lease>,
    id: string,
    token: number,
    permits: number,
    timing: LeaseTiming,
  ) {
    this.#backend = backend;
    this.name = backend.name;
    this.id = id;
    this.token = token;
    this.permits = permits;
    this.signal = this.#controller.signal;
    this.#leaseMs = timing.leaseMs;
    this.#renew = timing.renew;
    this.#deadline = timing.sentAt + timing.leftMs;
    this.#acquiredAt = timing.now ?? performance.now();
    this.#holdEnd = this.#acquiredAt + (timing.maxHoldMs ?? Infinity);
    this.#schedule(this.#acquiredAt);
  }

  /** `true` until the lease is released or lost. */
  get held(): boolean {
    return this.#state === "held";
  }

  /**
   * Time left before the lease ends unless renewed, in ms, as this process
   * can vouch for (measured from when the last grant or renewal was sent,
   * so never more than the server's own count).
   */
  get remainingMs(): number {
    return this.#state === "held"
      ? Math.max(0, this.#deadline - performance.now())
      : 0;
  }

  /**
   * Gives the permit back; the next waiter gets it at once. Calling it again
   * does nothing. Rejects with `LockLostError` when the lease was lost: call
   * it where that matters (the work must not count as done). In a `finally`,
   * use `await using` or `lease[Symbol.asyncDispose]()` instead, which
   * release the same way without rejecting, so a lost lease does not hide
   * the error that ended the work.
   *
   * @example
   * ```ts
   * import { connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * const lease = await new Mutex(redis, "job").acquire();
   * // ... work; then, if the work must have been exclusive to count:
   * await lease.release(); // LockLostError if the lease was lost meanwhile
   * ```
   */
  release(): Promise<void> {
    if (this.#state === "lost") {
      return Promise.reject(this.signal.reason);
    }
    this.#releasing ??= this.#release();
    return this.#releasing;
  }

  async #release(): Promise<void> {
    this.#state = "releasing";
    this.#clearTimers();
    let result: number;
    try {
      result = await this.#backend.release(this.id);
    } catch (error) {
      this.#state = "released";
      this.#settle(undefined);
      // Final errors, and any once the client is closed, as they are.
      if (!isTransientError(error) || this.#backend.closed) throw error;
      // Redis unreachable for now (a dropped connection, LOADING...):
      // releasing by id is idempotent, so it is retried in the background
      // until it lands or the lease ends anyway; the caller is not held up.
      this.#backend.releaseLater(this.id, this.#deadline);
      return;
    }
    if (result === 1) {
      this.#state = "released";
      this.#settle(undefined);
      return;
    }
    this.#lose("The lease on '%s' had ended before it was released");
    throw this.signal.reason;
  }

  /**
   * Extends the lease to `leaseMs` from now (the primitive's `leaseMs` by
   * default; never past the end of `maxHoldMs`). Rejects with `LockLostError`
   * when the lease was lost, with `LockNotHeldError` after it was released,
   * and with `RedisUnavailableError` when Redis cannot answer right now
   * (`LOADING`, a lost connection...: the lease is still held until its
   * end; background renewal keeps retrying).
   *
   * @example
   * ```ts
   * import { connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * await using lease = await new Mutex(redis, "job", { renew: false }).acquire();
   * await lease.extend(60_000); // one more minute
   * ```
   */
  async extend(leaseMs: number = this.#leaseMs): Promise<void> {
    if (!Number.isInteger(leaseMs) || leaseMs < 10 || leaseMs > 2 ** 31 - 1) {
      throw new RangeError(
        `Cannot extend as 'leaseMs' must be an integer in 10..2147483647: current value is ${leaseMs}`,
      );
    }
    if (this.#state === "lost") throw this.signal.reason;
    if (this.#state !== "held") throw new LockNotHeldError(this.name);
    const sentAt = performance.now();
    let granted: number;
    try {
      granted = await this.#backend.extend(this.id, this.#bounded(leaseMs));
    } catch (error) {
      throw unavailable(error, this.#backend.closed);
    }
    if (this.#state !== "held") {
      if (this.#state === "lost") throw this.signal.reason;
      throw new LockNotHeldError(this.name);
    }
    if (granted === 0) {
      this.#lose("The lease on '%s' had ended before it was extended");
      throw this.signal.reason;
    }
    this.#deadline = sentAt + granted;
    this.#schedule();
  }

  /** Same as `release()`, except that a lost lease does not throw. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === "lost" || this.#state === "released") return;
    try {
      await this.release();
    } catch (error) {
      if (!(error instanceof LockLostError)) throw error;
    }
  }

  /** `leaseMs`, cut to the hold time left under `maxHoldMs` (at least 1). */
  #bounded(leaseMs = this.#leaseMs): number {
    const left = Math.floor(this.#holdEnd - performance.now());
    return Math.max(1, Math.min(leaseMs, left));
  }

  /**
   * (Re)arms the timers after a grant or renewal: the renewal's when the
   * lease renews, else the deadline's. A renewing lease arms its deadline
   * only when a renewal starts (it fires if the renewal does not land in
   * time): one timer per lease while all goes well.
   */
  #schedule(now = performance.now()): void {
    this.#clearTimers();
    if (this.#state !== "held") return;
    const untilDeadline = Math.max(0, this.#deadline - now);
    if (!this.#renew || this.#holdEndsFirst(now, untilDeadline)) {
      this.#armDeadline(now);
      return;
    }
    // Renew after about a third of the time left, with +-15% jitter.
    const delay = untilDeadline / 3 * (0.85 + 0.3 * Math.random());
    // Up to a tenth of the delay late: within the jitter.
    this.#renewTimer = leaseSchedule.at(now + delay, () => {
      this.#renewTimer = undefined;
      this.#armDeadline(performance.now());
      this.#renewNow();
    }, delay / 10);
  }

  /** The hold bound is before the deadline (or < 10 ms past it): no renewal. */
  #holdEndsFirst(now: number, untilDeadline: number): boolean {
    return this.#holdEnd - now < untilDeadline + 10;
  }

  /** The lease is lost at its deadline (or `maxHoldMs`), unless re-armed. */
  #armDeadline(now: number): void {
    leaseSchedule.cancel(this.#deadlineTimer);
    const untilDeadline = Math.max(0, this.#deadline - now);
    const maxMs = Math.round(this.#holdEnd - this.#acquiredAt);
    const message = this.#holdEndsFirst(now, untilDeadline)
      ? `The lease on '%s' reached its maximum hold time of ${maxMs} ms`
      : "The lease on '%s' ran out before it could be renewed";
    // Due now or before (maxHoldMs already reached): at once.
    this.#deadlineTimer = leaseSchedule.at(
      now + Math.min(this.#holdEnd - now, untilDeadline),
      () => {
        this.#deadlineTimer = undefined;
        if (this.#state === "held") this.#lose(message);
      },
    );
  }

  /** One renewal attempt; never throws (it runs from a timer). */
  async #renewNow(): Promise<void> {
    if (this.#state !== "held") return;
    const sentAt = performance.now();
    let granted: number;
    try {
      granted = await this.#backend.extend(this.id, this.#bounded());
    } catch (error) {
      if (this.#state !== "held") return;
      if (this.#backend.closed) {
        // The client was closed: nothing can renew this lease any more
        // (nothing to retry, nor to warn about).
        this.#lose("The lease on '%s' ended as its client was closed", error);
        return;
      }
      this.#backend.renewalFailed(this, error);
      // Redis unreachable for now: retry while the lease may still be alive.
      const left = this.#deadline - performance.now();
      if (left <= 0) {
        this.#lose("The lease on '%s' could not be renewed in time", error);
        return;
      }
      if (!isTransientError(error)) {
        this.#lose("The lease on '%s' could not be renewed", error);
        return;
      }
      this.#retrying = true;
      this.#renewTimer = leaseSchedule.at(
        performance.now() + Math.min(250, left / 3),
        () => {
          this.#renewTimer = undefined;
          this.#retrying = false;
          this.#renewNow();
        },
      );
      return;
    }
    // A release() that started meanwhile wins: no false loss, no revival.
    if (this.#state !== "held") return;
    if (granted === 0) {
      this.#lose("The lease on '%s' ended before it could be renewed");
      return;
    }
    this.#deadline = sentAt + granted;
    this.#schedule();
    this.#backend.renewed(this);
  }

  /** Marks the lease lost: aborts `signal`, calls `onLost`, frees the permit. */
  #lose(message: string, cause?: unknown): void {
    if (this.#state === "lost" || this.#state === "released") return;
    const wasHeld = this.#state === "held";
    this.#state = "lost";
    this.#clearTimers();
    const error = new LockLostError(
      this.name,
      message.replace("%s", this.name),
      cause === undefined ? undefined : { cause },
    );
    this.#controller.abort(error);
    this.#settle(error);
    // Locally given up: make sure the server does not keep it either.
    // The server's entry may outlive the local deadline by a round trip's
    // slack: keep retrying a little past it.
    if (wasHeld) {
      this.#backend.releaseLater(
        this.id,
        Math.max(this.#deadline, performance.now()) + 2_000,
      );
    }
  }

  #settle(lost: LockLostError | undefined): void {
    this.#backend.settle(this, lost, performance.now() - this.#acquiredAt);
  }

  #clearTimers(): void {
    leaseSchedule.cancel(this.#renewTimer);
    leaseSchedule.cancel(this.#deadlineTimer);
    this.#renewTimer = undefined;
    this.#deadlineTimer = undefined;
  }
}
