/**
 * Statistics of the bench: percentiles, medians and Jain's fairness index.
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

/** p50 and p99 (ms) of samples in any order. */
export function p50p99(samples: readonly number[]): [number, number] {
  const sorted = Float64Array.from(samples).sort();
  return [percentile(sorted, 0.5), percentile(sorted, 0.99)];
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

/** Latency percentiles, ms. */
export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** p50, p90, p99 and max of `samples` (any order). */
export function percentiles(samples: readonly number[]): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
  };
}
