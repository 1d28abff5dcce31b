/**
 * Waiting and timing helpers of the bench: plain and precise sleeps, a time
 * limit on a promise, a timed call, and the rotation of a list (the order
 * of the contenders in each round).
 *
 * @module
 */

/** Resolves after `ms` (a plain timer). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves once `performance.now()` reaches `target`, a little closer than
 * one `setTimeout(target - now)` (timers fire about 1 ms late here). Never
 * early; at most 100 timer turns.
 */
export async function sleepUntil(target: number): Promise<void> {
  for (let turn = 0; turn < 100; turn++) {
    const left = target - performance.now();
    if (left <= 0) return;
    await sleep(left > 1.5 ? left - 1 : 0);
  }
}

/** Rejects with a clear message when `promise` takes longer than `ms`. */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not finish within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long `work` took, ms. */
export async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

/** Rotates `items` left by `by`: round r starts with item r. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
