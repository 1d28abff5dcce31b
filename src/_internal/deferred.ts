/**
 * `Promise.withResolvers()` for runtimes that lack it (Node 20).
 *
 * @module
 */

/** A promise with its `resolve` and `reject` at hand. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason?: unknown): void;
}

/** Same as `Promise.withResolvers<T>()`. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason?: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}
