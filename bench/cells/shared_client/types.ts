/**
 * The types of the shared-client cells: how much work they do, what each
 * measured, and what every measurement is given.
 *
 * @module
 */
import type { RedisClient } from "../../../mod.ts";
import type { Percentiles } from "../../shared/stats.ts";

/** How much work the shared-client cells do. */
export interface SharedBenchOptions {
  /** W of the shared-client hand-off cells. */
  workers: number[];
  /** W at which the one-client-per-worker cells run too (for the ratio). */
  perWorker: number[];
  /** The holder waits this long after every other worker is queued. */
  settleMs: number;
  /** Unmeasured hand-offs first. */
  warmup: number;
  /** Measured hand-offs per cell, and their time limit, for W < `largeFrom`. */
  rounds: number;
  cellMs: number;
  /** From this W on, `largeRounds` within `largeCellMs`. */
  largeFrom: number;
  largeRounds: number;
  largeCellMs: number;
  /** `waiterTtlMs` of every lock: heartbeats every third of it. */
  waiterTtlMs: number;
  /** The web-server cell. */
  web: {
    /** Concurrent request loops C. */
    loops: number;
    /** Mutex names K; each request picks one at random. */
    names: number;
    /** Work inside the lock: a timer of this many ms. */
    workMs: number;
    warmupMs: number;
    windowMs: number;
  };
}

/** About 100 s on 2 cores. */
export const DEFAULT_SHARED_BENCH: SharedBenchOptions = {
  workers: [8, 128, 1_024, 10_000],
  perWorker: [8, 128],
  settleMs: 5,
  warmup: 10,
  rounds: 500,
  cellMs: 4_000,
  largeFrom: 10_000,
  largeRounds: 300,
  largeCellMs: 2_500,
  waiterTtlMs: 60_000,
  web: { loops: 1_000, names: 10, workMs: 1, warmupMs: 1_000, windowMs: 5_000 },
};

/** `BENCH_QUICK=1`: the extremes, few rounds, a short web window. */
export const QUICK_SHARED_BENCH: SharedBenchOptions = {
  ...DEFAULT_SHARED_BENCH,
  workers: [8, 10_000],
  perWorker: [8],
  rounds: 50,
  cellMs: 1_000,
  largeRounds: 30,
  largeCellMs: 500,
  web: { ...DEFAULT_SHARED_BENCH.web, warmupMs: 300, windowMs: 1_000 },
};

/** One hand-off cell. */
export interface SharedHandoffResult {
  kind: "mutex" | "semaphore";
  /** One client for all workers, or one per worker. */
  layout: "shared" | "per-worker";
  workers: number;
  latency: Percentiles;
  /** Share of hand-offs that went to the worker waiting longest. */
  toOldest: number;
  /** Connections named after the cell in `CLIENT LIST`, all waiting. */
  connections: number;
  /**
   * Commands ours sent (and their server time, us) per acquisition, in the
   * measured rounds only (commandstats at the settles of some of them).
   */
  commandsPerAcquire: number;
  redisUsPerAcquire: number;
  /** From the start of the cell to W-1 members in the queue ZSET, s. */
  queueSeconds: number;
  /** The time limit ended the cell before its rounds. */
  capped: boolean;
  seconds: number;
}

/** The web-server cell. */
export interface WebResult {
  loops: number;
  names: number;
  workMs: number;
  windowMs: number;
  /** Critical sections per second in the window. */
  perSec: number;
  acquisitions: number;
  /** Acquire waits completed in the window, ms. */
  wait: Percentiles;
  /** Longest wait, including loops still waiting at the window's end. */
  maxWait: number;
  /** Jain's index over the requests per loop. */
  jain: number;
  /** Measured critical section (the 1 ms timer), p50, ms. */
  criticalP50: number;
  /** Connections named after the cell in `CLIENT LIST`, mid-window. */
  connections: number;
  commandsPerAcquire: number;
  redisUsPerAcquire: number;
}

/** Everything the shared-client cells measured. */
export interface SharedBenchResult {
  options: SharedBenchOptions;
  handoff: SharedHandoffResult[];
  web: WebResult;
  seconds: number;
}

/** What every measurement is given. */
export interface Rig {
  url: string;
  observer: RedisClient;
  runId: string;
  options: SharedBenchOptions;
  /** Lock names, for cleaning `redsync:contended`. */
  names: Set<string>;
}
