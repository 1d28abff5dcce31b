/**
 * The types of the libraries cell: how much work it does, what every
 * measurement is given, and what each measured.
 *
 * @module
 */
import type { Connections } from "../../shared/connections.ts";
import type { Contender } from "../../shared/contenders.ts";
import type { Strategy } from "../../shared/catalog.ts";
import type { Summary } from "../../shared/stats.ts";

/** How much work each measurement does. */
export interface LockBenchOptions {
  /** Worker counts W of the hand-off and contention measurements. */
  workers: number[];
  floorPings: number;
  floorWarmup: number;
  /** Requests of each `redis-benchmark -c 1 -t ping` run. */
  floorBenchmarkPings: number;
  uncontendedRounds: number;
  uncontendedWarmup: number;
  uncontendedCycles: number;
  /** The holder waits this long after every other worker is waiting. */
  settleMs: number;
  /** Measured hand-offs per cell (over all lanes). */
  handoffRounds: number;
  /** Unmeasured hand-offs per lane first. */
  handoffWarmup: number;
  /** Time limit of a cell's measured rounds, W below the largest. */
  handoffCellMs: number;
  /** Time limit of a cell's measured rounds at the largest W. */
  handoffLargestMs: number;
  /**
   * Slow (sleep-bound) strategies run several independent locks ("lanes")
   * at once, as long as, over all lanes, their waiters make at most
   * `lanePollBudget` attempts per second, the lanes at most
   * `laneRoundBudget` hand-offs per second (a fast strategy's single lane
   * makes about 150), and there are at most `maxLaneWorkers` workers.
   */
  lanePollBudget: number;
  laneRoundBudget: number;
  maxLaneWorkers: number;
  /**
   * Samples of each idle floor (PING, RPUSH -> BLPOP, PUBLISH -> SUBSCRIBE
   * after `settleMs`).
   */
  idleSamples: number;
  /** Contention: unmeasured start, then the measured window. */
  contentionWarmupMs: number;
  contentionWindowMs: number;
  /** Critical sections of the contention runs, ms (0: empty). */
  criticalMs: number[];
}

/** About five minutes on 2 busy cores. */
export const DEFAULT_LOCK_BENCH: LockBenchOptions = {
  workers: [2, 8, 32, 128],
  floorPings: 10_000,
  floorWarmup: 1_000,
  floorBenchmarkPings: 20_000,
  uncontendedRounds: 3,
  uncontendedWarmup: 300,
  uncontendedCycles: 1_500,
  settleMs: 5,
  handoffRounds: 1_000,
  handoffWarmup: 10,
  handoffCellMs: 15_000,
  handoffLargestMs: 2_000,
  lanePollBudget: 12_000,
  laneRoundBudget: 800,
  maxLaneWorkers: 192,
  idleSamples: 150,
  contentionWarmupMs: 250,
  contentionWindowMs: 1_250,
  criticalMs: [0, 1],
};

/** `BENCH_QUICK=1`: a smoke run of a few seconds per section. */
export const QUICK_LOCK_BENCH: LockBenchOptions = {
  ...DEFAULT_LOCK_BENCH,
  workers: [2, 8],
  floorPings: 1_000,
  floorBenchmarkPings: 2_000,
  uncontendedRounds: 1,
  uncontendedCycles: 200,
  handoffRounds: 50,
  handoffCellMs: 1_000,
  handoffLargestMs: 500,
  idleSamples: 30,
  contentionWarmupMs: 100,
  contentionWindowMs: 300,
};

/** What every measurement is given. */
export interface Rig {
  connections: Connections;
  url: string;
  /** Unique per benchmark run: every key name contains it. */
  runId: string;
  log(line: string): void;
  options: LockBenchOptions;
  /** Names of our primitives, for cleaning `redsync:contended`. */
  names: Set<string>;
}

/** One floor measurement. */
export interface FloorRun {
  /** redis-benchmark `-c 1 -t ping`, PING_MBULK: p50 (us, 1 us steps) and 1e6/rps. */
  benchmarkP50Us: number;
  benchmarkMeanUs: number;
  /** Our client, sequential `await PING`: p50 and mean (us). */
  oursP50Us: number;
  oursMeanUs: number;
  /** Our PING sent after `settleMs` of idling, p50 (us). */
  idlePingP50Us: number;
  /**
   * `RPUSH` from one of our clients after `settleMs` of idling, to the
   * `BLPOP` of another one resolving, p50 (us): the idle floor of the
   * hand-off targets.
   */
  idleWakeP50Us: number;
  /**
   * `PUBLISH` from one of our clients after `settleMs` of idling, to a bare
   * connection `SUBSCRIBE`d to its channel getting the message, p50 (us):
   * the mechanism of our wake-ups without the lock and the hub (NaN when
   * the URL is not `redis://` or `rediss://`).
   */
  idlePublishP50Us: number;
}

/** One contender's uncontended figures (medians over the rounds). */
export interface UncontendedResult {
  contender: Contender;
  cyclesPerSec: number;
  /** Per acquire + release cycle, ms. */
  p50: number;
  p99: number;
  commandsPerCycle: number;
  /** Server time of those commands per cycle (commandstats `usec`). */
  redisUsPerCycle: number;
  /** p50 of each round, ms. */
  roundP50: number[];
}

/** One hand-off cell: a strategy at W workers. */
export interface HandoffResult {
  strategy: Strategy;
  workers: number;
  lanes: number;
  /** Release-to-acquire latencies, ms. */
  latency: Summary;
  /** Share of hand-offs that went to the worker waiting longest. */
  toOldest: number;
  /** Client-level commands over the whole cell, per acquisition. */
  commandsPerAcquire: number;
  /** The time limit ended the cell before `handoffRounds`. */
  capped: boolean;
  seconds: number;
}

/** One contention cell. */
export interface ContentionResult {
  contender: Contender;
  workers: number;
  criticalMs: number;
  /** Critical sections per second in the window. */
  perSec: number;
  acquisitions: number;
  /** Acquire waits completed in the window, ms. */
  wait: Summary;
  /** Longest wait, including those still waiting at the window's end. */
  maxWait: number;
  jain: number;
  /** Workers that never got the lock in the window. */
  starved: number;
  commandsPerAcquire: number;
  /** Server time of those commands (`usec` of commandstats) per acquisition. */
  redisUsPerAcquire: number;
  /** Calls per acquisition of each counted command. */
  perCommand: Record<string, number>;
  /** Measured critical section, p50, ms. */
  criticalP50: number;
}

/** Everything the libraries cell measured. */
export interface LockBenchResult {
  options: LockBenchOptions;
  floors: FloorRun[];
  uncontended: UncontendedResult[];
  handoff: HandoffResult[];
  contention: ContentionResult[];
  seconds: number;
}
