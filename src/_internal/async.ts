/**
 * A timer promise that honours an `AbortSignal` the std way.
 *
 * @module
 */

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
