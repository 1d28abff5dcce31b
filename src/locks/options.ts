/**
 * Options shared by every lock-like primitive, validated and defaulted in
 * one place.
 *
 * @module
 */
import type { LockLostError } from "../errors.ts";
import type { LockLogger, LockMetrics } from "../observe.ts";
import {
  checkInteger,
  checkNumber,
  checkOptionalObjects,
  checkOptionsObject,
} from "../_internal/validate.ts";
import { DEFAULT_PREFIX, MAX_NAME_LENGTH } from "./keys.ts";
import {
  type DurabilityOptions,
  type ResolvedDurability,
  resolveDurability,
} from "./durability.ts";

/** Waiting by polling: retries with exponential backoff and jitter. */
export interface PollingOptions {
  /** Selects polling. */
  strategy: "polling";
  /**
   * First delay between attempts, in milliseconds.
   * @default {10}
   */
  intervalMs?: number;
  /**
   * Largest delay between attempts, in milliseconds.
   * @default {1000}
   */
  maxIntervalMs?: number;
  /**
   * Growth of the delay after each failed attempt (1 keeps it constant).
   * @default {2}
   */
  factor?: number;
  /**
   * Share of each delay drawn at random, 0..1 (0.5: between 50% and 100%).
   * @default {0.5}
   */
  jitter?: number;
}

/** Waiting by blocking hand-off: a release wakes the next waiter in Redis. */
export interface BlockingOptions {
  /** Selects blocking hand-off. */
  strategy: "blocking";
}

/** How an `acquire()` waits for a permit. */
export type WaitStrategy = BlockingOptions | PollingOptions;

/** Options of every lock-like primitive (`Mutex`, `Semaphore`). */
export interface LockOptions {
  /**
   * Lease length in milliseconds: a holder that stops renewing (it crashed,
   * or lost Redis) loses its permit this long after its last renewal.
   * @default {30000}
   */
  leaseMs?: number;
  /**
   * Renew held leases in the background, about every `leaseMs / 3`, with
   * jitter. When off, a lease ends after `leaseMs` unless `extend()` is called.
   * @default {true}
   */
  renew?: boolean;
  /**
   * Called once when a lease of this primitive is lost (besides
   * `lease.signal` aborting with the same error). Exceptions it throws are
   * reported with `reportError`, never thrown into a timer.
   * @default {undefined}
   */
  onLost?: (error: LockLostError) => void;
  /**
   * Prefix of every Redis key of the primitive.
   * @default {"redsync"}
   */
  prefix?: string;
  /**
   * How `acquire()` waits: `"blocking"` hand-off (no polling), or
   * `"polling"` (or polling options) with backoff and jitter.
   * @default {"blocking"}
   */
  wait?: "blocking" | "polling" | WaitStrategy;
  /**
   * A waiter that stops refreshing its place in the queue (it crashed) is
   * dropped after this many milliseconds; live waiters refresh every third
   * of it.
   * @default {10000}
   */
  waiterTtlMs?: number;
  /**
   * Console-like logger for the primitive's events (`console` works);
   * nothing is logged without one.
   * @default {undefined}
   */
  logger?: LockLogger;
  /**
   * Hook for wait times, hold times, renewal failures and lost leases.
   * @default {undefined}
   */
  metrics?: LockMetrics;
  /**
   * Count a grant (and a renewal) only once this many replicas have it:
   * `WAIT` (or `WAITAOF`) on the connection that made the write. Narrows,
   * without closing, the window in which a failover loses a grant.
   * @default {undefined}
   */
  durability?: DurabilityOptions;
  /**
   * Longest time one lease may be held, in ms, counted from when
   * `acquire()` resolved: renewals (and `extend()`) never reach past it,
   * and when it is reached the lease is lost on schedule (`signal` aborts
   * with a `LockLostError` saying so, `onLost` is called) and its permit is
   * released at once, so the next waiter gets it. `undefined`: no bound.
   * @default {undefined}
   */
  maxHoldMs?: number;
}

/** {@linkcode LockOptions} with every default applied. */
export interface ResolvedLockOptions {
  leaseMs: number;
  renew: boolean;
  onLost: ((error: LockLostError) => void) | undefined;
  prefix: string;
  wait: BlockingOptions | Required<PollingOptions>;
  waiterTtlMs: number;
  logger: LockLogger | undefined;
  metrics: LockMetrics | undefined;
  durability: ResolvedDurability | undefined;
  maxHoldMs: number | undefined;
}

const MAX_MS = 2 ** 31 - 1;

/** Validates `options` and applies the defaults. */
export function resolveLockOptions(
  action: string,
  options: LockOptions = {},
): ResolvedLockOptions {
  checkOptionsObject(action, options);
  const {
    leaseMs = 30_000,
    renew = true,
    onLost,
    prefix = DEFAULT_PREFIX,
    wait = "blocking",
    waiterTtlMs = 10_000,
    logger,
    metrics,
    durability,
    maxHoldMs,
  } = options;
  checkOptionalObjects(action, { logger, metrics });
  checkInteger(action, "leaseMs", leaseMs, 10, MAX_MS);
  checkInteger(action, "waiterTtlMs", waiterTtlMs, 30, MAX_MS);
  if (maxHoldMs !== undefined) {
    checkInteger(action, "maxHoldMs", maxHoldMs, 10, MAX_MS);
  }
  if (typeof renew !== "boolean") {
    throw new TypeError(
      `Cannot ${action} as 'renew' must be a boolean: current value is ${
        String(renew)
      }`,
    );
  }
  if (onLost !== undefined && typeof onLost !== "function") {
    throw new TypeError(
      `Cannot ${action} as 'onLost' must be a function: current type is ${typeof onLost}`,
    );
  }
  if (typeof prefix !== "string" || prefix.length > MAX_NAME_LENGTH) {
    throw new TypeError(
      `Cannot ${action} as 'prefix' must be a string of at most ${MAX_NAME_LENGTH} characters: current value is ${
        String(prefix)
      }`,
    );
  }
  return {
    leaseMs,
    renew,
    onLost,
    prefix,
    wait: resolveWait(action, wait),
    waiterTtlMs,
    logger,
    metrics,
    durability: resolveDurability(action, durability),
    maxHoldMs,
  };
}

function resolveWait(
  action: string,
  wait: LockOptions["wait"],
): ResolvedLockOptions["wait"] {
  if (wait === "blocking") return { strategy: "blocking" };
  const given: WaitStrategy = wait === "polling"
    ? { strategy: "polling" }
    : wait as WaitStrategy;
  if (given?.strategy === "blocking") return { strategy: "blocking" };
  if (given?.strategy !== "polling") {
    throw new TypeError(
      `Cannot ${action} as 'wait' must be "blocking", "polling" or { strategy, ... }: current value is ${
        JSON.stringify(wait)
      }`,
    );
  }
  const {
    intervalMs = 10,
    maxIntervalMs = Math.max(1_000, intervalMs),
    factor = 2,
    jitter = 0.5,
  } = given;
  checkInteger(action, "wait.intervalMs", intervalMs, 1, MAX_MS);
  checkInteger(action, "wait.maxIntervalMs", maxIntervalMs, intervalMs, MAX_MS);
  checkNumber(action, "wait.factor", factor, 1, 100);
  checkNumber(action, "wait.jitter", jitter, 0, 1);
  return { strategy: "polling", intervalMs, maxIntervalMs, factor, jitter };
}

/** Longest `meta` of an acquisition, in UTF-16 code units. */
export const MAX_META_LENGTH = 1024;

/** What `acquire()` takes: an `AbortSignal`, or an options object. */
export interface AcquireOptions {
  /**
   * Stops waiting: `acquire()` rejects with `signal.reason` (a
   * `TimeoutError` for `AbortSignal.timeout(ms)`), and no permit is kept.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Who holds the lease and why (host, pid, job id...), at most 1024
   * characters: stored with the lease in Redis (`Mutex` and `Semaphore`;
   * a waiter's travels with its place in the queue), shown by `inspect()`,
   * `info()` and the CLI, and removed with the lease. `""` stores nothing.
   * `Redlock` ignores it.
   * @default {undefined}
   */
  meta?: string;
}

/** Splits `acquire(signal)` and `acquire({ signal, ... })`. */
export function toAcquireOptions<T extends AcquireOptions>(
  action: string,
  input: AbortSignal | T | undefined,
): T {
  if (input === undefined) return {} as T;
  if (input instanceof AbortSignal) return { signal: input } as T;
  if (typeof input !== "object" || input === null) {
    throw new TypeError(
      `Cannot ${action} as the argument must be an AbortSignal or an options object: current value is ${
        String(input)
      }`,
    );
  }
  if (input.signal !== undefined && !(input.signal instanceof AbortSignal)) {
    throw new TypeError(
      `Cannot ${action} as 'signal' must be an AbortSignal: current type is ${typeof input
        .signal}`,
    );
  }
  checkMeta(action, input.meta);
  return input;
}

/** Throws TypeError/RangeError unless `meta` is `undefined` or a short string. */
export function checkMeta(action: string, meta: unknown): string {
  if (meta === undefined) return "";
  if (typeof meta !== "string") {
    throw new TypeError(
      `Cannot ${action} as 'meta' must be a string: current type is ${
        meta === null ? "null" : typeof meta
      }`,
    );
  }
  if (meta.length > MAX_META_LENGTH) {
    throw new RangeError(
      `Cannot ${action} as 'meta' must be a string of at most ${MAX_META_LENGTH} characters: current length is ${meta.length}`,
    );
  }
  return meta;
}
