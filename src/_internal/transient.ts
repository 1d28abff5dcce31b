/**
 * Which errors a retry may cure: the connection dropped (or is not back
 * yet), or the server is loading its data, busy with a script, or failing
 * over, or too few replicas acknowledged in time. Waits and renewals retry these; any other error (auth, wrong type,
 * a script error, a closed client) is final.
 *
 * @module
 */
import {
  ConnectionError,
  DurabilityError,
  RedisReplyError,
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
 * Runs `fn` until it succeeds, retrying transient errors with backoff and
 * jitter (20 ms up to 1 s) until `signal` aborts (then its reason) or the
 * client is closed (then the error). Any other error is thrown at once.
 */
export async function retryTransient<T>(
  fn: () => Promise<T>,
  options: {
    signal?: AbortSignal;
    closed: () => boolean;
    onRetry?: (error: unknown) => void;
  },
): Promise<T> {
  const { signal, closed, onRetry } = options;
  let pauses: Generator<number> | undefined;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (signal?.aborted || closed() || !isTransientError(error)) throw error;
      onRetry?.(error);
      pauses ??= backoff({ minMs: 20, maxMs: 1_000, jitter: 0.5 });
      await delay(pauses.next().value!, signal);
    }
  }
}
