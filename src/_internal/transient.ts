/**
 * Which errors a retry may cure: the connection dropped (or is not back
 * yet), or the server is loading its data, busy with a script, or failing
 * over, or too few replicas acknowledged in time. Waits and renewals retry
 * these; any other error (auth, wrong type, a script error, a closed
 * client) is final. What gives up on them hands callers one typed error,
 * `RedisUnavailableError` (`unavailable()`), never a raw reply error.
 *
 * @module
 */
import {
  ConnectionError,
  DurabilityError,
  RedisReplyError,
  RedisUnavailableError,
} from "../errors.ts";
import { backoff, delay } from "./async.ts";

const TRANSIENT_CODES = new Set([
  "LOADING",
  "BUSY",
  "TRYAGAIN",
  "MASTERDOWN",
  "CLUSTERDOWN",
]);

/** Whether retrying the command later may succeed. */
export function isTransientError(error: unknown): boolean {
  // Too few replicas acknowledged (a renewal with durability): they may
  // catch up, so renewals retry it while the lease lasts.
  return error instanceof ConnectionError || error instanceof DurabilityError ||
    (error instanceof RedisReplyError && TRANSIENT_CODES.has(error.code));
}

/**
 * `error` as callers of the primitives get it: a transient reply error
 * (`LOADING`, `BUSY`, ...) or a lost connection becomes a
 * `RedisUnavailableError` (the server's code kept, the original as its
 * cause). Anything else is returned as is: a `RedisUnavailableError`
 * already, a `DurabilityError`, any final error, and every error once the
 * client is `closed` (that is final too).
 */
export function unavailable(error: unknown, closed = false): unknown {
  if (closed || error instanceof RedisUnavailableError) return error;
  if (error instanceof RedisReplyError && TRANSIENT_CODES.has(error.code)) {
    return new RedisUnavailableError(
      `Redis is not available right now (${error.code}): ${error.message}`,
      { cause: error, code: error.code },
    );
  }
  if (error instanceof ConnectionError) {
    return new RedisUnavailableError(
      `Redis is not available right now: ${error.message}`,
      { cause: error },
    );
  }
  return error;
}

/** Settles like `promise`, its rejection passed through `unavailable()`. */
export async function typed<T>(
  promise: Promise<T>,
  closed: () => boolean,
): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw unavailable(error, closed());
  }
}

/**
 * Runs `fn` until it succeeds, retrying transient errors with backoff and
 * jitter (20 ms up to 1 s) until `signal` aborts (then it rejects with
 * `signal.reason`), the client is closed (then with the error), or the
 * next try would start past `until` (a `performance.now()` time; then with
 * the error as a `RedisUnavailableError`). Any other error is thrown at
 * once.
 */
export async function retryTransient<T>(
  fn: () => Promise<T>,
  options: {
    signal?: AbortSignal;
    closed: () => boolean;
    onRetry?: (error: unknown) => void;
    until?: number;
  },
): Promise<T> {
  const { signal, closed, onRetry, until = Infinity } = options;
  let pauses: Generator<number> | undefined;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (closed() || !isTransientError(error)) throw error;
      pauses ??= backoff({ minMs: 20, maxMs: 1_000, jitter: 0.5 });
      const pauseMs = pauses.next().value!;
      if (performance.now() + pauseMs >= until) throw unavailable(error);
      onRetry?.(error);
      await delay(pauseMs, signal);
    }
  }
}
