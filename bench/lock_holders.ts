/**
 * Lock benchmark, many holders: does the cost of an acquire + release grow
 * with the number of holders? One `Semaphore(100,000)` gets 50,000 live
 * holders (one filler client, leases of 10 minutes without renewal), then
 * one worker (a client of its own) cycles `acquire()` + `release()` on it
 * and on a `Semaphore(4)` that nobody else holds, interleaved cycle by
 * cycle (p50, p99), then in a batch on each (the server time of the
 * scripts per cycle, from `INFO commandstats`: `evalsha` + `eval`).
 *
 * It also checks the running total of permits in use (`owners['#used']`,
 * which the scripts keep instead of walking the holders): it must equal the
 * live holders' weights after the fill and after the cycles, and the keys
 * must be gone once every filler has released.
 *
 * `HoldersCell` is also driven step by step by `runtime_child.ts` (the Deno
 * and Bun side-by-side section).
 *
 * @module
 */
import { connect, type Lease, type RedisClient, Semaphore } from "../mod.ts";
import {
  commandDelta,
  parseCommandStats,
  percentile,
  within,
} from "./lock_stats.ts";

/** Matched by `BENCH_LOCKS_ONLY` to keep (or drop) this cell. */
export const HOLDERS_ID = "ours-sem-holders";

/** The commands our cycles send (no waiting: no `BLMPOP`). */
const COMMANDS = ["evalsha", "eval"];

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
  /** Our commands (`evalsha`, `eval`) and their `usec`... */
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

/** Everything {@linkcode benchHolders} measured. */
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

/** Percentiles (ms) of samples in any order. */
export function p50p99(samples: readonly number[]): [number, number] {
  const sorted = Float64Array.from(samples).sort();
  return [percentile(sorted, 0.5), percentile(sorted, 0.99)];
}

/**
 * The two semaphores, the filler holders and the worker. `open()` fills;
 * `cycles()` measures; `close()` releases every filler and closes the
 * clients (the caller deletes the keys).
 */
export class HoldersCell {
  readonly large: string;
  readonly small: string;
  fillSeconds = NaN;
  fillRedisUsPerAcquire = NaN;
  readonly #observer: RedisClient;
  readonly #filler: RedisClient;
  readonly #worker: RedisClient;
  readonly #semaphores: Record<"small" | "large", Semaphore>;
  #leases: Lease[] = [];

  private constructor(
    names: { large: string; small: string },
    clients: {
      observer: RedisClient;
      filler: RedisClient;
      worker: RedisClient;
    },
    semaphores: Record<"small" | "large", Semaphore>,
  ) {
    this.large = names.large;
    this.small = names.small;
    this.#observer = clients.observer;
    this.#filler = clients.filler;
    this.#worker = clients.worker;
    this.#semaphores = semaphores;
  }

  /**
   * Creates both semaphores under `prefix` (every key name contains it),
   * puts `options.holders` holders on the large one and warms both up.
   * `observer` only sends `INFO` and reads the checks.
   */
  static async open(
    url: string,
    observer: RedisClient,
    prefix: string,
    options: HoldersBenchOptions,
    log: (line: string) => void,
  ): Promise<HoldersCell> {
    const filler = await connect(url);
    let worker: RedisClient | undefined;
    try {
      worker = await connect(url);
      const names = { large: `${prefix}:many`, small: `${prefix}:few` };
      const fillers = await Semaphore.create(filler, names.large, {
        permits: options.permits,
        leaseMs: options.fillLeaseMs,
        renew: false,
      });
      const semaphores = {
        large: await Semaphore.create(worker, names.large, {
          permits: options.permits,
        }),
        small: await Semaphore.create(worker, names.small, {
          permits: options.smallPermits,
        }),
      };
      const cell = new HoldersCell(
        names,
        { observer, filler, worker },
        semaphores,
      );
      const before = await cell.#stats();
      const start = performance.now();
      // Batches: thousands of acquires in flight on one object cost the
      // client far more per acquire than a few hundred.
      while (cell.#leases.length < options.holders) {
        const batch = Math.min(
          options.fillBatch,
          options.holders - cell.#leases.length,
        );
        cell.#leases.push(
          ...await within(
            Promise.all(
              Array.from({ length: batch }, () => fillers.acquire()),
            ),
            60_000,
            "holders: a fill batch",
          ),
        );
      }
      cell.fillSeconds = (performance.now() - start) / 1_000;
      const delta = commandDelta(before, await cell.#stats(), COMMANDS);
      cell.fillRedisUsPerAcquire = delta.usec / options.holders;
      log(
        `holders: ${options.holders} holders on Semaphore(${options.permits}) in ${
          cell.fillSeconds.toFixed(1)
        } s, ${cell.fillRedisUsPerAcquire.toFixed(1)} us of Redis per acquire`,
      );
      await cell.cycles("large", options.warmup);
      await cell.cycles("small", options.warmup);
      return cell;
    } catch (error) {
      await Promise.allSettled([filler.close(), worker?.close()]);
      throw error;
    }
  }

  async #stats() {
    return parseCommandStats(
      String(await this.#observer.send("INFO", "commandstats")),
    );
  }

  /**
   * One round: `count` cycles on each semaphore, alternating one by one
   * (which goes first alternates too), timed; then `statCycles` on each in
   * a batch (`first` first), for the server time per cycle.
   */
  async round(
    count: number,
    statCycles: number,
    first: "small" | "large",
  ): Promise<Record<"small" | "large", CycleBatch>> {
    const samples = { small: [] as number[], large: [] as number[] };
    for (let i = 0; i < count; i++) {
      const pair = i % 2 === 0
        ? ["small", "large"] as const
        : ["large", "small"] as const;
      for (const which of pair) {
        const start = performance.now();
        const lease = await this.#semaphores[which].acquire();
        await lease.release();
        samples[which].push(performance.now() - start);
      }
    }
    const second = first === "small" ? "large" : "small";
    const stats = {
      [first]: await this.cycles(first, statCycles),
      [second]: await this.cycles(second, statCycles),
    } as Record<"small" | "large", CycleBatch>;
    const merge = (which: "small" | "large"): CycleBatch => ({
      samples: samples[which],
      calls: stats[which].calls,
      usec: stats[which].usec,
      statCycles: stats[which].samples.length,
    });
    return { small: merge("small"), large: merge("large") };
  }

  /** `count` timed acquire + release cycles on one of the semaphores. */
  async cycles(which: "small" | "large", count: number): Promise<CycleBatch> {
    const semaphore = this.#semaphores[which];
    const before = await this.#stats();
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const start = performance.now();
      const lease = await semaphore.acquire();
      await lease.release();
      samples.push(performance.now() - start);
    }
    const delta = commandDelta(before, await this.#stats(), COMMANDS);
    return { samples, calls: delta.calls, usec: delta.usec };
  }

  /** The large semaphore's holders and running total. */
  async check(): Promise<HoldersCheck> {
    const key = (part: string) => `redsync:{${this.large}}:${part}`;
    const holders = Number(await this.#observer.send("ZCARD", key("holders")));
    const used = await this.#observer.send("HGET", key("owners"), "#used");
    return { holders, used: used === null ? NaN : Number(used) };
  }

  /** Releases every filler (in batches); returns the large one's keys left. */
  async close(): Promise<number> {
    try {
      const leases = this.#leases.splice(0);
      for (let from = 0; from < leases.length; from += 1_000) {
        await Promise.all(
          leases.slice(from, from + 1_000).map((lease) => lease.release()),
        );
      }
      const keys = ["holders", "owners", "queue", "waiters", "wants"].map((
        part,
      ) => `redsync:{${this.large}}:${part}`);
      return Number(await this.#observer.send("EXISTS", ...keys));
    } finally {
      await Promise.allSettled([
        this.#semaphores.large[Symbol.asyncDispose](),
        this.#semaphores.small[Symbol.asyncDispose](),
      ]);
      await Promise.allSettled([this.#filler.close(), this.#worker.close()]);
    }
  }
}

/** Figures of one semaphore from its batches. */
export function cycleFigures(
  permits: number,
  otherHolders: number,
  batches: readonly CycleBatch[],
): CycleFigures {
  const samples = batches.flatMap((b) => b.samples);
  const [p50, p99] = p50p99(samples);
  const calls = batches.reduce((n, b) => n + b.calls, 0);
  const usec = batches.reduce((n, b) => n + b.usec, 0);
  const statCycles = batches.reduce(
    (n, b) => n + (b.statCycles ?? b.samples.length),
    0,
  );
  return {
    permits,
    otherHolders,
    cycles: samples.length,
    p50,
    p99,
    commandsPerCycle: calls / statCycles,
    redisUsPerCycle: usec / statCycles,
    roundP50: batches.map((b) => p50p99(b.samples)[0]),
  };
}

/**
 * Runs the cell against the Redis at `url`: fill, interleaved rounds,
 * checks, release. Deletes every key it wrote (their names contain
 * `lockbench-holders-<random>`).
 */
export async function benchHolders(
  url: string,
  log: (line: string) => void,
  options: HoldersBenchOptions = DEFAULT_HOLDERS_BENCH,
): Promise<HoldersBenchResult> {
  const started = performance.now();
  const observer = await connect(url);
  const prefix = `lockbench-holders-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const cell = await HoldersCell.open(url, observer, prefix, options, log);
    const batches = { small: [] as CycleBatch[], large: [] as CycleBatch[] };
    let afterFill: HoldersCheck;
    let afterCycles: HoldersCheck;
    let keysAfterRelease: number;
    try {
      afterFill = await cell.check();
      for (let round = 0; round < options.rounds; round++) {
        const figures = await cell.round(
          options.cycles,
          options.statCycles,
          round % 2 === 0 ? "small" : "large",
        );
        for (const which of ["small", "large"] as const) {
          const batch = figures[which];
          batches[which].push(batch);
          log(
            `holders round ${round + 1}/${options.rounds} ${which}: p50 ${
              (p50p99(batch.samples)[0] * 1_000).toFixed(0)
            } us, Redis ${
              (batch.usec / (batch.statCycles ?? 1)).toFixed(1)
            } us/cycle`,
          );
        }
      }
      afterCycles = await cell.check();
    } finally {
      keysAfterRelease = await cell.close();
    }
    return {
      options,
      small: cycleFigures(options.smallPermits, 0, batches.small),
      large: cycleFigures(options.permits, options.holders, batches.large),
      fillSeconds: cell.fillSeconds,
      fillRedisUsPerAcquire: cell.fillRedisUsPerAcquire,
      afterFill,
      afterCycles,
      keysAfterRelease,
      seconds: (performance.now() - started) / 1_000,
    };
  } finally {
    await deleteKeys(observer, prefix);
    await observer.close();
  }
}

/** Deletes every key whose name contains `prefix`. */
export async function deleteKeys(
  redis: RedisClient,
  prefix: string,
): Promise<void> {
  let cursor = "0";
  for (let page = 0; page < 10_000; page++) {
    const [next, keys] = await redis.send(
      "SCAN",
      cursor,
      "MATCH",
      `*${prefix}*`,
      "COUNT",
      1_000,
    ) as [string, string[]];
    if (keys.length > 0) await redis.send("UNLINK", ...keys);
    cursor = String(next);
    if (cursor === "0") return;
  }
}
