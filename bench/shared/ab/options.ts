/**
 * What every interleaved A/B comparison (the cluster cell, the durability
 * cell) has: how much work its measurements do, and a result that says why
 * nothing was measured when its servers could not be set up.
 *
 * @module
 */

/** How much work the measurements every comparison has do. */
export interface InterleavedBenchOptions {
  /** Rounds; in each, every side runs every measurement, order alternating. */
  rounds: number;
  /** Sequential PINGs per side and round, after a warm-up. */
  pings: number;
  pingWarmup: number;
  /** PINGs after `settleMs` of idling, per side and round. */
  idleSamples: number;
  uncontendedWarmup: number;
  /** Timed acquire + release cycles per side and round. */
  uncontendedCycles: number;
  /**
   * Once a hand-off's waiter is queued, the holder waits this long, takes
   * the cell's floor, and waits this long again before it releases.
   */
  settleMs: number;
  /** Unmeasured hand-offs first, each round. */
  handoffWarmup: number;
  /** Measured hand-offs per side, cell and round... */
  handoffRounds: number;
  /** ...within this time. */
  cellMs: number;
}

/** The full runs' share. */
export const DEFAULT_INTERLEAVED_BENCH: InterleavedBenchOptions = {
  rounds: 4,
  pings: 3_000,
  pingWarmup: 500,
  idleSamples: 100,
  uncontendedWarmup: 200,
  uncontendedCycles: 1_000,
  settleMs: 5,
  handoffWarmup: 10,
  handoffRounds: 150,
  cellMs: 10_000,
};

/** `BENCH_QUICK=1`: two short rounds. */
export const QUICK_INTERLEAVED_BENCH: InterleavedBenchOptions = {
  ...DEFAULT_INTERLEAVED_BENCH,
  rounds: 2,
  pings: 500,
  pingWarmup: 200,
  idleSamples: 30,
  uncontendedWarmup: 100,
  uncontendedCycles: 200,
  handoffRounds: 50,
  cellMs: 2_000,
};

/** What every comparison's result has, measured or not. */
export interface ComparisonResult {
  /** Set when the servers could not be set up: nothing was measured. */
  skipped?: string;
  seconds: number;
}

/**
 * Marks `result` as not measured, logged: `skipped` is `why` and the first
 * line of `error`; `seconds` count from `started` (a `performance.now()`).
 */
export function skip<T extends ComparisonResult>(
  result: T,
  started: number,
  log: (line: string) => void,
  why: string,
  error: unknown,
): T {
  const first = error instanceof Error
    ? error.message.split("\n")[0]
    : String(error);
  result.skipped = `${why}: ${first}`;
  log(`skipped: ${result.skipped}`);
  result.seconds = (performance.now() - started) / 1_000;
  return result;
}
