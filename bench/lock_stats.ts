/**
 * Small statistics helpers of the lock benchmark: percentiles, Jain's
 * fairness index, `INFO commandstats` parsing, and timing utilities.
 *
 * @module
 */

/** Percentiles of a set of durations, in milliseconds. */
export interface Summary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  mean: number;
  max: number;
}

/** Nearest-rank percentile of sorted values, `q` in (0, 1]. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(
    sorted.length - 1,
    Math.max(0, Math.ceil(q * sorted.length) - 1),
  );
  return sorted[rank];
}

/** p50, p99, p99.9, mean and max of `samples` (any order). */
export function summarize(samples: readonly number[]): Summary {
  const sorted = Float64Array.from(samples).sort();
  let total = 0;
  for (const value of sorted) total += value;
  return {
    count: sorted.length,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    mean: sorted.length > 0 ? total / sorted.length : NaN,
    max: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
  };
}

/** Median of a list (mean of the middle two when even); NaN when empty. */
export function medianOf(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid]
    : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Jain's fairness index of per-worker shares: `(sum x)^2 / (n * sum x^2)`,
 * 1 when every worker got the same, `1/n` when one got everything.
 */
export function jain(shares: readonly number[]): number {
  let sum = 0;
  let squares = 0;
  for (const x of shares) {
    sum += x;
    squares += x * x;
  }
  return squares === 0 ? NaN : (sum * sum) / (shares.length * squares);
}

/** One line of `INFO commandstats`. */
export interface CommandStat {
  calls: number;
  usec: number;
}

/**
 * Parses `INFO commandstats`: `cmdstat_<name>:calls=N,usec=N,...` per line.
 * Subcommands keep Redis 7's `name|sub` form (`client|unblock`).
 */
export function parseCommandStats(info: string): Map<string, CommandStat> {
  const stats = new Map<string, CommandStat>();
  for (const line of info.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (match) {
      stats.set(match[1].toLowerCase(), {
        calls: Number(match[2]),
        usec: Number(match[3]),
      });
    }
  }
  return stats;
}

/** Calls and server time of the commands `names` between two snapshots. */
export function commandDelta(
  before: ReadonlyMap<string, CommandStat>,
  after: ReadonlyMap<string, CommandStat>,
  names: readonly string[],
): CommandStat {
  let calls = 0;
  let usec = 0;
  for (const name of names) {
    const a = after.get(name);
    if (a === undefined) continue;
    const b = before.get(name);
    calls += a.calls - (b?.calls ?? 0);
    usec += a.usec - (b?.usec ?? 0);
  }
  return { calls, usec };
}

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
