/**
 * Waiting helpers for the tests: `delay(ms)`, and `until(what, check)`,
 * which polls `check` every 10 ms and fails with a message naming `what`
 * after `ms` (bounded: no test waits forever).
 *
 * @module
 */

/** Resolves after `ms`. */
export const delay = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 10 ms until it holds, failing after `ms`. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  ms = 10_000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await delay(10);
  }
}
