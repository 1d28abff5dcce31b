/**
 * The types of the many-holders cell: how much work it does, and what it
 * measured.
 *
 * @module
 */

/** How much work the cell does. */
export interface HoldersBenchOptions {
  /** Permits of the large semaphore. */
  permits: number;
  /** Live holders put on it before measuring. */
  holders: number;
  /** Fillers' acquires in flight at once. */
  fillBatch: number;
  /** Fillers' lease (no renewal): longer than the whole cell. */
  fillLeaseMs: number;
  /** Permits of the small semaphore, the reference. */
  smallPermits: number;
  /** Unmeasured cycles on each semaphore first. */
  warmup: number;
  /**
   * Rounds; each runs `cycles` timed cycles on each semaphore, alternating
   * one by one, then `statCycles` on each in a batch for the server time.
   */
  rounds: number;
  cycles: number;
  statCycles: number;
}

/** About 15-25 s on 2 cores (the fill takes most of it). */
export const DEFAULT_HOLDERS_BENCH: HoldersBenchOptions = {
  permits: 100_000,
  holders: 50_000,
  fillBatch: 500,
  fillLeaseMs: 600_000,
  smallPermits: 4,
  warmup: 300,
  rounds: 4,
  cycles: 1_000,
  statCycles: 500,
};

/** `BENCH_QUICK=1`: the same semaphores, fewer cycles. */
export const QUICK_HOLDERS_BENCH: HoldersBenchOptions = {
  ...DEFAULT_HOLDERS_BENCH,
  warmup: 100,
  rounds: 2,
  cycles: 300,
  statCycles: 200,
};

/** Timed cycles and the server time of their commands. */
export interface CycleBatch {
  /** Per cycle, ms. */
  samples: number[];
  /** Our scripts' calls (`fcall`, `evalsha`, `eval`) and their `usec`... */
  calls: number;
  usec: number;
  /** ...over this many cycles (when not `samples.length`). */
  statCycles?: number;
}

/** Figures of one semaphore over all rounds. */
export interface CycleFigures {
  permits: number;
  /** Holders other than the worker while it cycled. */
  otherHolders: number;
  cycles: number;
  /** ms, over all cycles. */
  p50: number;
  p99: number;
  commandsPerCycle: number;
  redisUsPerCycle: number;
  /** p50 of each round, ms. */
  roundP50: number[];
}

/** The running total against the holders, read from Redis. */
export interface HoldersCheck {
  /** `ZCARD` of the holders ZSET. */
  holders: number;
  /** `owners['#used']`, or NaN when missing. */
  used: number;
}

/** Everything the many-holders cell measured. */
export interface HoldersBenchResult {
  options: HoldersBenchOptions;
  small: CycleFigures;
  large: CycleFigures;
  /** Wall time of the fill, s, and the server time per filler acquire, us. */
  fillSeconds: number;
  fillRedisUsPerAcquire: number;
  afterFill: HoldersCheck;
  afterCycles: HoldersCheck;
  /** Keys of the large semaphore left once every filler released. */
  keysAfterRelease: number;
  seconds: number;
}
