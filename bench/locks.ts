/**
 * Lock benchmark: our `Mutex` and `Semaphore` against redis-semaphore,
 * redlock v5 and @sesamecare-oss/redlock, all in this process, each worker
 * on a connection of its own. Four measurements:
 *
 * 1. floor: `redis-benchmark -c 1 -t ping` and our client's sequential PING;
 * 2. uncontended acquire + release cycles, one worker;
 * 3. hand-off latency in controlled rounds: the holder releases only once
 *    every other worker has been waiting in `acquire()` for a while, and the
 *    time from its `release()` call to the next holder's `acquire()`
 *    resolving is recorded;
 * 4. free-running contention: W workers loop acquire, critical section,
 *    release for a fixed time: throughput, waits, fairness, and Redis
 *    commands per acquisition from `INFO commandstats`.
 *
 * Every run counts the holders inside the critical section; more than the
 * limit throws (the benchmark exits non-zero).
 *
 * @module
 */
import type { RedisClient } from "../mod.ts";
import { connectionArgs, parseBenchmarkCsv, redisBenchmark } from "./client.ts";
import {
  Connections,
  type Contender,
  GIVE_UP_MS,
  type Held,
  oursMutex,
  oursSemaphore,
  pollingEvery,
  redlock,
  rsMutex,
  rsSemaphore,
  SEMAPHORE_PERMITS,
  sesameRedlock,
  type Subject,
  VERSIONS,
} from "./lock_contenders.ts";
import type { SharedBenchResult } from "./lock_shared.ts";
import type { HoldersBenchResult } from "./lock_holders.ts";
import type { BreakdownBenchResult } from "./lock_breakdown.ts";
import type { InflightBenchResult } from "./lock_inflight.ts";
import {
  commandDelta,
  type CommandStat,
  jain,
  medianOf,
  parseCommandStats,
  sleep,
  sleepUntil,
  summarize,
  type Summary,
  within,
} from "./lock_stats.ts";

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
  /** Samples of each idle floor (PING, RPUSH -> BLPOP after `settleMs`). */
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

// ---------------------------------------------------------------------------
// Contenders
// ---------------------------------------------------------------------------

/** A hand-off strategy: a mutex contender and how its waiters wait. */
export interface Strategy {
  contender: Contender;
  /** Mean interval between a waiter's attempts, ms; 0 for blocking. */
  pollMs: number;
}

const OURS = "@redsync/core";
const RS = `redis-semaphore ${VERSIONS.redisSemaphore}`;
const RL = `redlock ${VERSIONS.redlock}`;
const SRL = `@sesamecare-oss/redlock ${VERSIONS.sesame}`;
const REDLOCK_RETRIES = "retryCount raised so it never gives up";
const RS_TIMEOUT = "acquireTimeout 60 s";

/** The strategies of the hand-off measurement, all on a mutex. */
export function handoffStrategies(): Strategy[] {
  return [
    {
      contender: oursMutex(
        "ours-blocking",
        `${OURS} Mutex, blocking`,
        "defaults (blocking hand-off)",
        "blocking",
      ),
      pollMs: 0,
    },
    ...[1, 10, 50].map((ms) => ({
      contender: oursMutex(
        `ours-poll-${ms}`,
        `${OURS} Mutex, polling ${ms} ms`,
        `polling every ${ms} ms (intervalMs = maxIntervalMs = ${ms}, factor 1, jitter 0)`,
        pollingEvery(ms),
      ),
      pollMs: ms,
    })),
    {
      contender: rsMutex(
        "rs-mutex",
        `${RS} Mutex`,
        `defaults (retryInterval 10 ms), ${RS_TIMEOUT}`,
      ),
      pollMs: 10,
    },
    {
      contender: rsMutex(
        "rs-mutex-1",
        `${RS} Mutex, retry 1 ms`,
        `retryInterval 1 ms, ${RS_TIMEOUT}`,
        1,
      ),
      pollMs: 1,
    },
    {
      contender: redlock(
        "redlock",
        RL,
        `defaults (retryDelay 200 ms, retryJitter 100 ms), ${REDLOCK_RETRIES}`,
        {},
      ),
      pollMs: 200,
    },
    {
      contender: redlock(
        "redlock-1",
        `${RL}, retry 1 ms`,
        `retryDelay 1 ms, retryJitter 0, ${REDLOCK_RETRIES}`,
        { retryDelay: 1, retryJitter: 0 },
      ),
      pollMs: 1,
    },
    {
      contender: sesameRedlock(
        "sesame",
        SRL,
        `defaults (retryDelay 200 ms, retryJitter 100 ms), ${REDLOCK_RETRIES}`,
        {},
      ),
      pollMs: 200,
    },
    {
      contender: sesameRedlock(
        "sesame-1",
        `${SRL}, retry 1 ms`,
        `retryDelay 1 ms, retryJitter 0, ${REDLOCK_RETRIES}`,
        { retryDelay: 1, retryJitter: 0 },
      ),
      pollMs: 1,
    },
  ];
}

/** Every library at its defaults, on a mutex and on a semaphore. */
export function defaultContenders(): Contender[] {
  return [
    oursMutex(
      "ours-mutex",
      `${OURS} Mutex, blocking`,
      "defaults",
      "blocking",
    ),
    oursMutex(
      "ours-mutex-polling",
      `${OURS} Mutex, polling`,
      'wait: "polling" (its defaults: 10 ms doubling to 1 s, jitter 0.5)',
      "polling",
    ),
    rsMutex("rs-mutex", `${RS} Mutex`, `defaults, ${RS_TIMEOUT}`),
    redlock("redlock", RL, `defaults, ${REDLOCK_RETRIES}`, {}),
    sesameRedlock("sesame", SRL, `defaults, ${REDLOCK_RETRIES}`, {}),
    oursSemaphore(
      "ours-sem",
      `${OURS} Semaphore(${SEMAPHORE_PERMITS}), blocking`,
      "defaults",
      "blocking",
    ),
    rsSemaphore(
      "rs-sem",
      `${RS} Semaphore(${SEMAPHORE_PERMITS})`,
      `defaults, ${RS_TIMEOUT}`,
    ),
  ];
}

// ---------------------------------------------------------------------------
// Shared machinery
// ---------------------------------------------------------------------------

/** What every measurement is given. */
interface Run {
  connections: Connections;
  url: string;
  /** Unique per benchmark run: every key name contains it. */
  runId: string;
  log(line: string): void;
  options: LockBenchOptions;
  /** Names of our primitives, for cleaning `redsync:contended`. */
  names: Set<string>;
}

/** Thrown when more workers held a lock than its limit. */
export class ViolationError extends Error {
  override name = "ViolationError";
}

/** Counts holders inside the critical section; throws past the limit. */
export class Oracle {
  inside = 0;
  violations = 0;
  #first = "";
  constructor(readonly limit: number, readonly what: string) {}

  enter(): void {
    this.inside++;
    if (this.inside > this.limit) {
      this.violations++;
      this.#first ||=
        `${this.inside} holders of ${this.what} (limit ${this.limit})`;
    }
  }

  leave(): void {
    this.inside--;
  }

  /** Throws a ViolationError when the limit was ever exceeded. */
  check(): void {
    if (this.violations > 0) {
      throw new ViolationError(
        `CORRECTNESS VIOLATION: ${this.violations} time(s) more holders than permitted; first: ${this.#first}`,
      );
    }
  }
}

async function commandStats(
  run: Run,
): Promise<Map<string, CommandStat>> {
  const info = await run.connections.observer.send("INFO", "commandstats");
  return parseCommandStats(String(info));
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Rotates `items` left by `by`. */
function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

// ---------------------------------------------------------------------------
// 1. Floor
// ---------------------------------------------------------------------------

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
   * `BLPOP` of another one resolving, p50 (us): the mechanism of our
   * blocking hand-off without the lock.
   */
  idleWakeP50Us: number;
}

async function measureFloor(run: Run, label: string): Promise<FloorRun> {
  const { options, log } = run;
  let benchmarkP50Us = NaN;
  let benchmarkMeanUs = NaN;
  try {
    const rows = parseBenchmarkCsv(
      await redisBenchmark([
        ...connectionArgs(run.url),
        "-c",
        "1",
        "-n",
        String(options.floorBenchmarkPings),
        "-t",
        "ping",
        "--csv",
      ]),
    );
    const row = rows.find((r) => r.test === "PING_MBULK") ?? rows[0];
    benchmarkP50Us = (row.values.get("p50_latency_ms") ?? NaN) * 1_000;
    benchmarkMeanUs = 1e6 / (row.values.get("rps") ?? NaN);
  } catch (error) {
    log(`floor: redis-benchmark skipped: ${errorText(error)}`);
  }
  const redis = run.connections.observer;
  for (let i = 0; i < options.floorWarmup; i++) await redis.send("PING");
  const samples: number[] = [];
  for (let i = 0; i < options.floorPings; i++) {
    const start = performance.now();
    await redis.send("PING");
    samples.push(performance.now() - start);
  }
  const ours = summarize(samples);
  const idlePing: number[] = [];
  for (let i = 0; i < options.idleSamples; i++) {
    await sleepUntil(performance.now() + options.settleMs);
    const start = performance.now();
    await redis.send("PING");
    idlePing.push(performance.now() - start);
  }
  const [waiter] = await run.connections.ours(1);
  const key = `${run.runId}:floor:wake`;
  const wake: number[] = [];
  for (let i = 0; i < options.idleSamples; i++) {
    let start = NaN;
    const popped = waiter.send("BLPOP", key, 10).then(() =>
      performance.now() - start
    );
    await sleepUntil(performance.now() + options.settleMs);
    start = performance.now();
    await redis.send("RPUSH", key, "x");
    wake.push(await within(popped, 15_000, "floor: BLPOP"));
  }
  const result: FloorRun = {
    benchmarkP50Us,
    benchmarkMeanUs,
    oursP50Us: ours.p50 * 1_000,
    oursMeanUs: ours.mean * 1_000,
    idlePingP50Us: summarize(idlePing).p50 * 1_000,
    idleWakeP50Us: summarize(wake).p50 * 1_000,
  };
  log(
    `floor (${label}): redis-benchmark PING p50 ${
      result.benchmarkP50Us.toFixed(0)
    } us, mean ${result.benchmarkMeanUs.toFixed(1)} us; our PING p50 ${
      result.oursP50Us.toFixed(1)
    } us, mean ${
      result.oursMeanUs.toFixed(1)
    } us; after ${options.settleMs} ms idle: PING p50 ${
      result.idlePingP50Us.toFixed(0)
    } us, RPUSH -> BLPOP p50 ${result.idleWakeP50Us.toFixed(0)} us`,
  );
  return result;
}

// ---------------------------------------------------------------------------
// 2. Uncontended
// ---------------------------------------------------------------------------

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

async function timedCycles(
  subject: Subject,
  count: number,
  signal: AbortSignal,
): Promise<number[]> {
  const worker = subject.workers[0];
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const held = await worker.acquire(signal);
    await held.release();
    samples.push(performance.now() - start);
  }
  return samples;
}

async function measureUncontended(
  run: Run,
  contenders: Contender[],
): Promise<UncontendedResult[]> {
  const { options, log } = run;
  const signal = new AbortController().signal;
  const subjects = new Map<Contender, Subject>();
  const rounds = new Map<
    Contender,
    {
      p50: number;
      p99: number;
      perSec: number;
      commands: number;
      redisUs: number;
    }[]
  >(contenders.map((c) => [c, []]));
  try {
    for (const contender of contenders) {
      const name = `${run.runId}:u:${contender.id}`;
      run.names.add(name);
      const subject = await contender.open(run.connections, name, 1, 0);
      subjects.set(contender, subject);
      await timedCycles(subject, options.uncontendedWarmup, signal);
    }
    for (let round = 0; round < options.uncontendedRounds; round++) {
      for (const contender of rotate(contenders, round)) {
        const subject = subjects.get(contender);
        if (subject === undefined) continue;
        const before = await commandStats(run);
        const start = performance.now();
        const samples = await timedCycles(
          subject,
          options.uncontendedCycles,
          signal,
        );
        const seconds = (performance.now() - start) / 1_000;
        const after = await commandStats(run);
        const summary = summarize(samples);
        const delta = commandDelta(before, after, contender.commands);
        const commands = delta.calls / samples.length;
        rounds.get(contender)?.push({
          p50: summary.p50,
          p99: summary.p99,
          perSec: samples.length / seconds,
          commands,
          redisUs: delta.usec / samples.length,
        });
        log(
          `uncontended round ${
            round + 1
          }/${options.uncontendedRounds} ${contender.label}: p50 ${
            (summary.p50 * 1_000).toFixed(0)
          } us, p99 ${(summary.p99 * 1_000).toFixed(0)} us, ${
            Math.round(samples.length / seconds)
          } cycles/s, ${commands.toFixed(2)} commands/cycle, Redis ${
            (delta.usec / samples.length).toFixed(0)
          } us/cycle`,
        );
      }
    }
  } finally {
    await Promise.allSettled([...subjects.values()].map((s) => s.close()));
  }
  return contenders.map((contender) => {
    const list = rounds.get(contender) ?? [];
    return {
      contender,
      cyclesPerSec: medianOf(list.map((r) => r.perSec)),
      p50: medianOf(list.map((r) => r.p50)),
      p99: medianOf(list.map((r) => r.p99)),
      commandsPerCycle: medianOf(list.map((r) => r.commands)),
      redisUsPerCycle: medianOf(list.map((r) => r.redisUs)),
      roundP50: list.map((r) => r.p50),
    };
  });
}

// ---------------------------------------------------------------------------
// 3. Hand-off
// ---------------------------------------------------------------------------

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

/** Lanes of a strategy at W workers: see {@linkcode LockBenchOptions}. */
export function lanesFor(
  strategy: Strategy,
  workers: number,
  options: LockBenchOptions,
): number {
  // Only sleep-bound strategies: a hand-off of a few ms or more.
  if (strategy.pollMs < 10) return 1;
  const byPolls = Math.floor(
    options.lanePollBudget * strategy.pollMs / 1_000 / workers,
  );
  // A round: the settle, about half a retry interval, a little more.
  const roundMs = options.settleMs + strategy.pollMs / 2 + 1;
  const byRounds = Math.floor(options.laneRoundBudget * roundMs / 1_000);
  const byWorkers = Math.floor(options.maxLaneWorkers / workers);
  return Math.max(1, Math.min(byPolls, byRounds, byWorkers));
}

/** One chain of W workers on one lock (also used by `lock_shared.ts`). */
export class Lane {
  readonly subject: Subject;
  readonly size: number;
  readonly oracle: Oracle;
  readonly abort = new AbortController();
  /** `performance.now()` when each worker entered acquire(); NaN if not. */
  readonly entered: Float64Array;
  waiting = 0;
  /** Hand-offs so far, and the measured ones. */
  handoffs = 0;
  readonly samples: number[] = [];
  toOldest = 0;
  acquisitions = 0;
  stop = false;
  releasedAt = NaN;
  measuring = false;
  oldest = -1;
  /** The worker that last got the lock. */
  holder = -1;
  #changed = Promise.withResolvers<void>();

  /** `limit`: holders allowed (a semaphore's permits, fillers included). */
  constructor(subject: Subject, what: string, limit = 1) {
    this.subject = subject;
    this.size = subject.workers.length;
    this.oracle = new Oracle(limit, what);
    this.entered = new Float64Array(this.size).fill(NaN);
  }

  enter(i: number): void {
    this.entered[i] = performance.now();
    this.waiting++;
    this.#notify();
  }

  leave(i: number): void {
    this.entered[i] = NaN;
    this.waiting--;
    this.#notify();
  }

  #notify(): void {
    const changed = this.#changed;
    this.#changed = Promise.withResolvers<void>();
    changed.resolve();
  }

  /** Until the next enter/leave, or 50 ms; leaves no timer behind. */
  async #nextChange(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#changed.promise,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 50);
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * Until a worker other than `releaser` got the lock (or the lane stops);
   * throws after `GIVE_UP_MS` + 10 s.
   */
  async handedOff(releaser: number): Promise<void> {
    const deadline = performance.now() + GIVE_UP_MS + 10_000;
    while (this.holder === releaser && !this.stop) {
      if (performance.now() > deadline) {
        throw new Error("hand-off: no waiter took the lock");
      }
      await this.#nextChange();
    }
  }

  /** The worker that entered acquire() first, among those waiting. */
  oldestWaiter(): number {
    let oldest = -1;
    for (let i = 0; i < this.size; i++) {
      const at = this.entered[i];
      if (Number.isNaN(at)) continue;
      if (oldest === -1 || at < this.entered[oldest]) oldest = i;
    }
    return oldest;
  }

  /**
   * Until every other worker is in acquire() (and, for ours, in the queue
   * ZSET), then `settleMs` more. Throws after 10 s.
   */
  async settle(settleMs: number): Promise<void> {
    const deadline = performance.now() + 10_000;
    while (this.waiting < this.size - 1) {
      if (this.stop) return;
      if (performance.now() > deadline) {
        throw new Error(
          `hand-off: only ${this.waiting} of ${
            this.size - 1
          } workers waiting after 10 s`,
        );
      }
      await this.#nextChange();
    }
    if (this.subject.queued) {
      for (let polls = 0;; polls++) {
        const queued = await this.subject.queued();
        if (queued >= this.size - 1) break;
        if (performance.now() > deadline) {
          throw new Error(
            `hand-off: queue ZSET has ${queued} of ${
              this.size - 1
            } waiters after 10 s`,
          );
        }
        if (polls > 20) await sleep(0);
      }
    }
    await sleepUntil(performance.now() + settleMs);
  }
}

export async function laneWorker(
  lane: Lane,
  index: number,
  control: {
    warmup: number;
    rounds: number;
    deadline: () => number;
    settleMs: number;
  },
): Promise<void> {
  const worker = lane.subject.workers[index];
  // Bounded: every iteration is one acquisition, and the lane stops after
  // its rounds or its deadline (each acquisition is at least one settle).
  for (let iteration = 0; iteration < 1_000_000; iteration++) {
    if (lane.stop) return;
    lane.enter(index);
    let held: Held;
    try {
      held = await worker.acquire(lane.abort.signal);
    } catch (error) {
      lane.leave(index);
      if (lane.abort.signal.aborted) return;
      throw error;
    }
    const got = performance.now();
    lane.holder = index;
    lane.leave(index);
    lane.oracle.enter();
    lane.acquisitions++;
    if (!Number.isNaN(lane.releasedAt)) {
      if (lane.measuring) {
        lane.samples.push(got - lane.releasedAt);
        if (index === lane.oldest) lane.toOldest++;
      }
      lane.releasedAt = NaN;
    }
    try {
      if (!lane.stop) await lane.settle(control.settleMs);
    } catch (error) {
      lane.stop = true;
      lane.abort.abort(error);
      lane.oracle.leave();
      await held.release();
      throw error;
    }
    lane.oracle.leave();
    if (!lane.stop) {
      lane.handoffs++;
      lane.measuring = lane.handoffs > control.warmup;
      if (
        lane.samples.length >= control.rounds ||
        (lane.measuring && performance.now() > control.deadline())
      ) {
        lane.stop = true;
      }
    }
    if (lane.stop) {
      // The rest of the chain: ours and redis-semaphore stop waiting when
      // aborted; redlock's waiters take the lock once more and leave.
      lane.abort.abort();
      await held.release();
      return;
    }
    lane.oldest = lane.oldestWaiter();
    lane.releasedAt = performance.now();
    await held.release();
    // Only a waiting worker can take it: the releaser stays out until then
    // (no barging: contention measures that).
    await lane.handedOff(index);
  }
}

async function handoffCell(
  run: Run,
  strategy: Strategy,
  workers: number,
  largest: boolean,
): Promise<HandoffResult> {
  const { options, connections } = run;
  const contender = strategy.contender;
  const lanes = lanesFor(strategy, workers, options);
  const subjects: Subject[] = [];
  const laneList: Lane[] = [];
  try {
    for (let l = 0; l < lanes; l++) {
      const name = `${run.runId}:h:${contender.id}:${workers}:${l}`;
      run.names.add(name);
      const subject = await contender.open(
        connections,
        name,
        workers,
        l * workers,
      );
      subjects.push(subject);
      laneList.push(new Lane(subject, `${contender.label} (lane ${l})`));
    }
    const limitMs = largest ? options.handoffLargestMs : options.handoffCellMs;
    const target = options.handoffRounds;
    const perLane = Math.ceil(target / lanes);
    let measuredFrom = NaN;
    const control = {
      warmup: options.handoffWarmup,
      rounds: perLane,
      settleMs: options.settleMs,
      deadline: () => {
        if (Number.isNaN(measuredFrom)) measuredFrom = performance.now();
        return measuredFrom + limitMs;
      },
    };
    const before = await commandStats(run);
    const start = performance.now();
    const tasks = laneList.flatMap((lane) =>
      lane.subject.workers.map((_, i) => laneWorker(lane, i, control))
    );
    const settled = await within(
      Promise.allSettled(tasks),
      limitMs + 60_000 + workers * 1_000,
      `hand-off ${contender.label} at W=${workers}`,
    );
    const seconds = (performance.now() - start) / 1_000;
    const after = await commandStats(run);
    for (const lane of laneList) lane.oracle.check();
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    const samples = laneList.flatMap((lane) => lane.samples);
    const acquisitions = laneList.reduce((n, l) => n + l.acquisitions, 0);
    const toOldest = laneList.reduce((n, l) => n + l.toOldest, 0);
    return {
      strategy,
      workers,
      lanes,
      latency: summarize(samples),
      toOldest: toOldest / samples.length,
      commandsPerAcquire:
        commandDelta(before, after, contender.commands).calls / acquisitions,
      capped: samples.length < target,
      seconds,
    };
  } finally {
    await Promise.allSettled(subjects.map((s) => s.close()));
  }
}

async function measureHandoff(
  run: Run,
  strategies: Strategy[],
): Promise<HandoffResult[]> {
  const { options, log } = run;
  const results: HandoffResult[] = [];
  const largest = Math.max(...options.workers);
  for (const strategy of strategies) {
    for (const workers of options.workers) {
      const result = await handoffCell(
        run,
        strategy,
        workers,
        workers === largest,
      );
      results.push(result);
      const l = result.latency;
      log(
        `hand-off ${strategy.contender.label} W=${workers}${
          result.lanes > 1 ? ` (${result.lanes} lanes)` : ""
        }: ${l.count} rounds in ${result.seconds.toFixed(1)} s, p50 ${
          ms(l.p50)
        } ms, p99 ${ms(l.p99)} ms, p99.9 ${ms(l.p999)} ms, to oldest ${
          (result.toOldest * 100).toFixed(0)
        }%, ${result.commandsPerAcquire.toFixed(1)} commands/acquisition`,
      );
    }
  }
  return results;
}

// ---------------------------------------------------------------------------
// 4. Contention
// ---------------------------------------------------------------------------

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

async function contentionCell(
  run: Run,
  contender: Contender,
  workers: number,
  criticalMs: number,
): Promise<ContentionResult> {
  const { options, connections } = run;
  const limit = contender.kind === "mutex" ? 1 : SEMAPHORE_PERMITS;
  const name = `${run.runId}:c:${contender.id}:${workers}:${criticalMs}`;
  run.names.add(name);
  const subject = await contender.open(connections, name, workers, 0);
  const oracle = new Oracle(limit, contender.label);
  const abort = new AbortController();
  const entered = new Float64Array(workers).fill(NaN);
  const counts = new Array<number>(workers).fill(0);
  const waits: number[] = [];
  const critical: number[] = [];
  let measuring = false;
  let stop = false;

  const loop = async (index: number) => {
    const worker = subject.workers[index];
    for (let iteration = 0; iteration < 10_000_000 && !stop; iteration++) {
      const enter = performance.now();
      entered[index] = enter;
      let held: Held;
      try {
        held = await worker.acquire(abort.signal);
      } catch (error) {
        entered[index] = NaN;
        if (abort.signal.aborted) return;
        throw error;
      }
      const got = performance.now();
      entered[index] = NaN;
      oracle.enter();
      if (measuring) {
        counts[index]++;
        waits.push(got - enter);
      }
      if (criticalMs > 0 && !stop) {
        await sleep(criticalMs);
        if (measuring) critical.push(performance.now() - got);
      }
      oracle.leave();
      await held.release();
    }
  };

  try {
    const tasks = subject.workers.map((_, i) => loop(i));
    await sleep(options.contentionWarmupMs);
    const before = await commandStats(run);
    measuring = true;
    const start = performance.now();
    await sleep(options.contentionWindowMs);
    measuring = false;
    const end = performance.now();
    const after = await commandStats(run);
    stop = true;
    let censored = 0;
    for (const at of entered) {
      if (!Number.isNaN(at)) censored = Math.max(censored, end - at);
    }
    abort.abort();
    const settled = await within(
      Promise.allSettled(tasks),
      60_000 + workers * 1_000,
      `contention ${contender.label} at W=${workers}`,
    );
    oracle.check();
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    const acquisitions = waits.length;
    const delta = commandDelta(before, after, contender.commands);
    const wait = summarize(waits);
    const perCommand: Record<string, number> = {};
    for (const command of contender.commands) {
      const calls = commandDelta(before, after, [command]).calls;
      if (calls > 0) perCommand[command] = calls / acquisitions;
    }
    return {
      contender,
      workers,
      criticalMs,
      perSec: acquisitions / ((end - start) / 1_000),
      acquisitions,
      wait,
      maxWait: Math.max(wait.count > 0 ? wait.max : 0, censored),
      jain: jain(counts),
      starved: counts.filter((c) => c === 0).length,
      commandsPerAcquire: delta.calls / acquisitions,
      redisUsPerAcquire: delta.usec / acquisitions,
      perCommand,
      criticalP50: summarize(critical).p50,
    };
  } finally {
    stop = true;
    abort.abort();
    await subject.close();
  }
}

async function measureContention(
  run: Run,
  contenders: Contender[],
): Promise<ContentionResult[]> {
  const { options, log } = run;
  const results: ContentionResult[] = [];
  for (const contender of contenders) {
    for (const criticalMs of options.criticalMs) {
      for (const workers of options.workers) {
        const r = await contentionCell(run, contender, workers, criticalMs);
        results.push(r);
        log(
          `contention ${contender.label} W=${workers} cs=${criticalMs} ms: ${
            Math.round(r.perSec)
          }/s, wait p50 ${ms(r.wait.p50)} ms, p99 ${ms(r.wait.p99)} ms, max ${
            ms(r.maxWait)
          } ms, Jain ${r.jain.toFixed(3)}, ${
            r.commandsPerAcquire.toFixed(1)
          } commands/acquisition`,
        );
      }
    }
  }
  return results;
}

// ---------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------

/** Everything {@linkcode benchLocks} measured. */
export interface LockBenchResult {
  options: LockBenchOptions;
  floors: FloorRun[];
  uncontended: UncontendedResult[];
  handoff: HandoffResult[];
  contention: ContentionResult[];
  seconds: number;
  /** The shared-client cells (`lock_shared.ts`), when they ran. */
  shared?: SharedBenchResult;
  /** The many-holders cell (`lock_holders.ts`), when it ran. */
  holders?: HoldersBenchResult;
  /** The hand-off breakdown cell (`lock_breakdown.ts`), when it ran. */
  breakdown?: BreakdownBenchResult;
  /** The in-flight cell (`lock_inflight.ts`), when it ran. */
  inflight?: InflightBenchResult;
}

/** Deletes every key whose name holds `runId`, and `names` from `redsync:contended`. */
export async function deleteRun(
  redis: RedisClient,
  runId: string,
  names: Iterable<string>,
): Promise<void> {
  let cursor = "0";
  for (let page = 0; page < 10_000; page++) {
    const reply = await redis.send(
      "SCAN",
      cursor,
      "MATCH",
      `*${runId}*`,
      "COUNT",
      1_000,
    ) as [string, string[]];
    cursor = String(reply[0]);
    if (reply[1].length > 0) await redis.send("UNLINK", ...reply[1]);
    if (cursor === "0") break;
  }
  const all = [...names];
  for (let from = 0; from < all.length; from += 500) {
    await redis.send(
      "ZREM",
      "redsync:contended",
      ...all.slice(from, from + 500),
    );
  }
}

/** Deletes every key of this run, and our names from `redsync:contended`. */
function cleanup(run: Run): Promise<void> {
  return deleteRun(run.connections.observer, run.runId, run.names);
}

/**
 * Runs the four lock measurements against the Redis at `url`. Throws a
 * {@linkcode ViolationError} when a lock ever had too many holders.
 * `only` keeps the contenders whose id it matches (for development).
 */
export async function benchLocks(
  url: string,
  log: (line: string) => void,
  options: LockBenchOptions = DEFAULT_LOCK_BENCH,
  only?: RegExp,
  connections?: Connections,
): Promise<LockBenchResult> {
  const keep = (c: Contender) => only === undefined || only.test(c.id);
  const own = connections ?? await Connections.open(url);
  const run: Run = {
    connections: own,
    url,
    runId: `lockbench-${crypto.randomUUID().slice(0, 8)}`,
    log,
    options,
    names: new Set(),
  };
  const started = performance.now();
  try {
    const floors = [await measureFloor(run, "start")];
    const uncontended = await measureUncontended(
      run,
      defaultContenders().filter(keep),
    );
    const handoff = await measureHandoff(
      run,
      handoffStrategies().filter((s) => keep(s.contender)),
    );
    floors.push(await measureFloor(run, "after hand-off"));
    const contention = await measureContention(
      run,
      defaultContenders().filter(keep),
    );
    floors.push(await measureFloor(run, "end"));
    return {
      options,
      floors,
      uncontended,
      handoff,
      contention,
      seconds: (performance.now() - started) / 1_000,
    };
  } finally {
    try {
      await cleanup(run);
    } catch (error) {
      log(`cleanup failed: ${errorText(error)}`);
    }
    if (connections === undefined) await own.close();
  }
}
