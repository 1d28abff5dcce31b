/**
 * The timer and abort helpers of the whole library, in one place, after
 * denoland/std `async/`: every one honours an `AbortSignal` the std way
 * (check `signal.aborted` first, listen `{ once: true }`, remove the
 * listener when done, reject with `signal.reason`) and leaves no timer
 * behind.
 *
 * @module
 */

/** A promise with its `resolve` and `reject` at hand. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason?: unknown): void;
}

/** `Promise.withResolvers<T>()`, for runtimes that lack it (Node 20). */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason?: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/**
 * Resolves after `ms`; rejects with `signal.reason` as soon as `signal`
 * aborts, clearing its timer, so nothing is left behind either way.
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Waits `ms`, or less when `signal` aborts or `until` settles first.
 * Never rejects: resolves `true` when the whole time passed.
 */
export async function pause(
  ms: number,
  signal?: AbortSignal,
  until?: Promise<unknown>,
): Promise<boolean> {
  if (!until) return await delay(ms, signal).then(() => true, () => false);
  const settled = new AbortController();
  const stop = () => settled.abort();
  until.then(stop, stop);
  const combined = signal
    ? AbortSignal.any([signal, settled.signal])
    : settled.signal;
  try {
    return await delay(ms, combined).then(() => true, () => false);
  } finally {
    stop(); // detaches `combined` from `signal`
  }
}

/**
 * Settles like `promise`, or rejects with `signal.reason` as soon as
 * `signal` aborts (calling `onAbort` first, e.g. to close whatever the
 * promise still delivers). Without a signal, it is `promise` itself.
 */
export async function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  onAbort?: () => void,
): Promise<T> {
  if (!signal) return await promise;
  if (signal.aborted) {
    onAbort?.();
    throw signal.reason;
  }
  const { promise: aborted, reject } = deferred<never>();
  const listener = () => {
    onAbort?.();
    reject(signal.reason);
  };
  signal.addEventListener("abort", listener, { once: true });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener("abort", listener);
  }
}

/** Shape of an exponential backoff. */
export interface BackoffOptions {
  /**
   * First delay, in ms.
   * @default {10}
   */
  minMs?: number;
  /**
   * Largest delay, in ms.
   * @default {1000}
   */
  maxMs?: number;
  /**
   * Growth per attempt.
   * @default {2}
   */
  factor?: number;
  /**
   * Share of each delay drawn at random, 0..1: the delay is between
   * `(1 - jitter)` and 1 times the exponential step (0.5 is "equal jitter").
   * @default {0}
   */
  jitter?: number;
}

/**
 * Exponential backoff with jitter: an endless iterator of delays in ms,
 * `min(maxMs, minMs * factor ** attempt) * (1 - jitter * random)`.
 */
export function* backoff(options: BackoffOptions = {}): Generator<number> {
  const { minMs = 10, maxMs = 1_000, factor = 2, jitter = 0 } = options;
  for (let attempt = 0;; attempt++) {
    const step = Math.min(maxMs, minMs * factor ** Math.min(attempt, 64));
    yield step * (1 - jitter * Math.random());
  }
}
