/**
 * The types of the hand-off breakdown cell: how much work it does, the
 * parts of one hand-off, and what it measured.
 *
 * @module
 */

/** How much work the cell does. */
export interface BreakdownBenchOptions {
  /** Idling before each timed release (and each floor's RPUSH or PUBLISH). */
  settleMs: number;
  /** Unmeasured steps first (each: one hand-off per variant, each floor once). */
  warmup: number;
  /** Measured steps... */
  count: number;
  /** ...within this time. */
  cellMs: number;
  /** Limit of every single wait (a waiter to queue, a hand-off, a floor). */
  waitMs: number;
}

/** About 15-20 s on 2 cores. */
export const DEFAULT_BREAKDOWN_BENCH: BreakdownBenchOptions = {
  settleMs: 5,
  warmup: 50,
  count: 500,
  cellMs: 45_000,
  waitMs: 10_000,
};

/** `BENCH_QUICK=1`: the same, fewer steps. */
export const QUICK_BREAKDOWN_BENCH: BreakdownBenchOptions = {
  ...DEFAULT_BREAKDOWN_BENCH,
  warmup: 10,
  count: 60,
  cellMs: 10_000,
};

/** The parts of one hand-off, in the order they happen. */
export const PARTS = ["before", "redis", "wire", "after", "total"] as const;
/** One of {@linkcode PARTS}. */
export type Part = typeof PARTS[number];

/** p50 and mean of one part, us. */
export interface PartFigures {
  p50: number;
  mean: number;
}

/** One row of the table: a variant, or a floor. */
export interface BreakdownRow {
  label: string;
  /** Measured samples kept. */
  samples: number;
  /** Measured samples dropped (commandstats delta or trace incomplete). */
  dropped: number;
  /** Hand-offs: kept samples whose RELEASE ran as `FCALL` (else `EVALSHA`). */
  viaFunction?: number;
  /**
   * `before`: tw - t0; `redis`: server time (commandstats); `wire`: th - tw
   * minus `redis`; `after`: t1 - th; `total`: t1 - t0. All us.
   */
  parts: Record<Part, PartFigures>;
}

/** Everything the hand-off breakdown cell measured. */
export interface BreakdownBenchResult {
  options: BreakdownBenchOptions;
  mutex: BreakdownRow;
  semaphore: BreakdownRow;
  /** The idle floor: an `RPUSH` waking another client's `BLPOP`. */
  floor: BreakdownRow;
  /**
   * The wake-ups' floor: a `PUBLISH` reaching a connection `SUBSCRIBE`d to
   * its channel; undefined when it could not run (`pubsubSkipped` says why).
   */
  pubsubFloor: BreakdownRow | undefined;
  pubsubSkipped?: string;
  /** Measuring stopped at `cellMs` before `count` steps. */
  capped: boolean;
  /** Connections A and B opened (2 each: main, wake hub). */
  connections: number[];
  seconds: number;
}

/** One hand-off (or floor) split at its four instants, us. */
export type Sample = Record<Part, number>;
