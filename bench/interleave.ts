/**
 * Interleaved A/B sampling of the lock bench's comparison cells
 * (`lock_cluster.ts`: the single-node client against the cluster client;
 * `lock_durability.ts`: mutexes without `durability` against with): the
 * sides under test take turns sample by sample, and each measurement keeps
 * its samples per side and round, with the floors taken within the cell.
 *
 * @module
 */
import { connect, type Mutex, type RedisClient } from "../mod.ts";
import { sleepUntil, summarize, type Summary } from "./lock_stats.ts";

/** How much work the cells every comparison has do. */
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

/**
 * One measurement on every side: all samples of all rounds, ms. `R` are the
 * sides that always take part, `O` those that may not (then absent).
 */
export type Cell<R extends string, O extends string = never> =
  & Record<R, Summary>
  & Partial<Record<O, Summary>>
  & {
    /** p50 of each round, ms. */
    roundP50: Record<R, number[]> & Partial<Record<O, number[]>>;
    /** The cell's own floor, sampled within it next to the measured samples. */
    floor?: Record<R, Summary> & Partial<Record<O, Summary>>;
    /** Some round stopped at its time limit before its samples. */
    capped: boolean;
  };

/** Samples of one step, per side; the floors by the same key. */
export type PerSide<K extends string> = Record<K, number[]>;

/** A record with one fresh `make()` per key of `keys`. */
function perKey<K extends string, T>(
  keys: readonly K[],
  make: () => T,
): Record<K, T> {
  return Object.fromEntries(keys.map((k) => [k, make()])) as Record<K, T>;
}

/** Microseconds from ms, no decimals (progress lines). */
function us(ms: number): string {
  return Number.isFinite(ms) ? (ms * 1_000).toFixed(0) : "n/a";
}

/** How long `work` took, ms. */
export async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

/** A sequential `PING` on `client`, timed. */
function ping(client: RedisClient): Promise<number> {
  return timed(() => client.send("PING"));
}

/** A `PING` on `client` after `settleMs` of idling, timed. */
async function idlePing(
  client: RedisClient,
  settleMs: number,
): Promise<number> {
  await sleepUntil(performance.now() + settleMs);
  return await ping(client);
}

/** One uncontended acquire + release cycle of `mutex`, timed. */
export function cycle(mutex: Mutex): Promise<number> {
  return timed(async () => {
    const lease = await mutex.acquire();
    await lease.release();
  });
}

/** The `redis_version` of the server behind `redis`. */
export async function serverVersion(redis: RedisClient): Promise<string> {
  const info = String(await redis.send("INFO", "server"));
  return /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? "unknown";
}

/** What every comparison's result has, measured or not. */
export interface SectionResult {
  /** Set when the servers could not be set up: nothing was measured. */
  skipped?: string;
  seconds: number;
}

/**
 * Marks `result` as not measured, logged: `skipped` is `why` and the first
 * line of `error`; `seconds` count from `started` (a `performance.now()`).
 */
export function skip<T extends SectionResult>(
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

/** The clients a comparison opens, closed together at its end. */
export class Clients {
  readonly #all: RedisClient[] = [];

  async open(url: string): Promise<RedisClient> {
    const client = await connect(url);
    this.#all.push(client);
    return client;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#all.map((c) => c.close()));
  }
}

/** One sample of one side; `record` is false in the warm-up. */
export type Step<S> = (
  side: S,
  i: number,
  record: boolean,
) => Promise<number | undefined>;

/** One measurement of a round: a warm-up, then the measured samples. */
export interface CellRun<K extends string, S> {
  /** Unmeasured steps per side first. */
  warmup: number;
  /** Measured steps per side. */
  count: number;
  step: Step<S>;
  /** The sides, when not all of the round's. */
  sides?: readonly S[];
  /** Floors the measured steps took, added with their samples. */
  floors?: PerSide<K>;
  /** After the warm-up, just before the measured steps. */
  beforeMeasured?(): Promise<void>;
}

/**
 * The sides of one comparison: their keys (`required` always measured,
 * `optional` in some cells only) and the key of a side object `S`.
 */
export class Interleave<R extends string, O extends string, S> {
  readonly keys: readonly (R | O)[];

  constructor(
    readonly required: readonly R[],
    readonly optional: readonly O[],
    readonly keyOf: (side: S) => R | O,
  ) {
    this.keys = [...required, ...optional];
  }

  /** A record with one fresh `make()` per key. */
  per<T>(make: () => T): Record<R | O, T> {
    return perKey(this.keys, make);
  }

  /**
   * Runs `step` on each side in turn, `count` times (fewer past `deadline`),
   * the order reversed every other time (ABBA...), so that all see the same
   * moments of the machine: on a small shared VM, a loopback round trip
   * switches between about 20 and 90 us from one second to the next, which
   * would otherwise land on whichever side ran then.
   */
  async run(
    sides: readonly S[],
    round: number,
    count: number,
    step: (side: S, i: number) => Promise<number | undefined>,
    deadline = Infinity,
  ): Promise<PerSide<R | O>> {
    const samples = this.per<number[]>(() => []);
    for (let i = 0; i < count && performance.now() < deadline; i++) {
      const order = (i + round) % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        const sample = await step(side, i);
        if (sample !== undefined) samples[this.keyOf(side)].push(sample);
      }
    }
    return samples;
  }

  /**
   * `run.options.rounds` rounds of `each` on `sides`, which measures the
   * cells `names` (each round adds its samples to them); then sets each of
   * them in `into`.
   */
  async rounds<C extends string>(
    into: Partial<Record<C, Cell<R, O>>>,
    names: readonly C[],
    sides: readonly S[],
    run: { options: { rounds: number }; log(line: string): void },
    each: (
      round: Round<R, O, S>,
      cells: Record<C, Samples<R, O>>,
    ) => Promise<void>,
  ): Promise<void> {
    const cells = perKey(
      names,
      () => new Samples(this.required, this.optional),
    );
    const { options: { rounds }, log } = run;
    for (let index = 0; index < rounds; index++) {
      await each(new Round(this, sides, index, rounds, log), cells);
    }
    for (const name of names) into[name] = cells[name].cell();
  }

  /**
   * Logs p50 and p99 of one step's samples, per side (an optional side only
   * when it took part).
   */
  log(
    log: (line: string) => void,
    what: string,
    samples: PerSide<R | O>,
  ): void {
    const shown = this.keys.filter((k) =>
      (this.required as readonly string[]).includes(k) || samples[k].length > 0
    );
    log(
      `${what}: ${
        shown.map((k) => {
          const s = summarize(samples[k]);
          return `${k} p50 ${us(s.p50)} us, p99 ${us(s.p99)} us`;
        }).join("; ")
      } (${samples[this.required[0]].length} each)`,
    );
  }
}

/** Samples of one measurement, per side and round. */
export class Samples<R extends string, O extends string = never> {
  readonly rounds: Record<R | O, number[][]>;
  readonly floors: Record<R | O, number[]>;
  capped = false;

  constructor(
    readonly required: readonly R[],
    readonly optional: readonly O[],
  ) {
    const keys = [...required, ...optional];
    this.rounds = perKey<R | O, number[][]>(keys, () => []);
    this.floors = perKey<R | O, number[]>(keys, () => []);
  }

  /** One round's samples (and floors) of each side that took part. */
  add(samples: PerSide<R | O>, floors?: PerSide<R | O>): void {
    for (const key of [...this.required, ...this.optional]) {
      if (samples[key].length === 0) continue;
      this.rounds[key].push(samples[key]);
      this.floors[key].push(...floors?.[key] ?? []);
    }
  }

  /** The percentiles over all rounds, each round's p50, and the floors. */
  cell(): Cell<R, O> {
    const present = [
      ...this.required,
      ...this.optional.filter((k) => this.rounds[k].length > 0),
    ];
    const withFloor = this.required.some((k) => this.floors[k].length > 0);
    const summaries: Record<string, Summary> = {};
    const roundP50: Record<string, number[]> = {};
    const floor: Record<string, Summary> = {};
    for (const k of present) {
      summaries[k] = summarize(this.rounds[k].flat());
      roundP50[k] = this.rounds[k].map((r) => summarize(r).p50);
      floor[k] = summarize(this.floors[k]);
    }
    return {
      ...summaries,
      roundP50,
      floor: withFloor ? floor : undefined,
      capped: this.capped,
    } as Cell<R, O>;
  }
}

/** One round of a comparison: its sides, number and log. */
export class Round<R extends string, O extends string, S> {
  /** The progress lines' prefix: "round 1/4". */
  readonly tag: string;

  constructor(
    readonly ab: Interleave<R, O, S>,
    readonly sides: readonly S[],
    readonly index: number,
    rounds: number,
    readonly log: (line: string) => void,
  ) {
    this.tag = `round ${index + 1}/${rounds}`;
  }

  /** {@linkcode Interleave.run} on this round's sides (or `sides`). */
  run(
    count: number,
    step: (side: S, i: number) => Promise<number | undefined>,
    deadline = Infinity,
    sides: readonly S[] = this.sides,
  ): Promise<PerSide<R | O>> {
    return this.ab.run(sides, this.index, count, step, deadline);
  }

  /** Logs one measurement's samples: `round i/n <what>: ...`. */
  report(what: string, samples: PerSide<R | O>): void {
    this.ab.log(this.log, `${this.tag} ${what}`, samples);
  }

  /**
   * Runs `cell`: its warm-up, then its measured steps, added to `into`
   * (with its floors) and logged as `what`; returns the measured samples.
   */
  async measure(
    into: Samples<R, O>,
    what: string,
    cell: CellRun<R | O, S>,
  ): Promise<PerSide<R | O>> {
    const { sides = this.sides, step } = cell;
    await this.run(cell.warmup, (s, i) => step(s, i, false), Infinity, sides);
    await cell.beforeMeasured?.();
    const samples = await this.run(
      cell.count,
      (s, i) => step(s, i, true),
      Infinity,
      sides,
    );
    into.add(samples, cell.floors);
    this.report(what, samples);
    return samples;
  }

  /** The PING cell: sequential PINGs on each side's `client`. */
  pings(
    into: Samples<R, O>,
    options: InterleavedBenchOptions,
    client: (side: S) => RedisClient,
  ): Promise<PerSide<R | O>> {
    return this.measure(into, "PING", {
      warmup: options.pingWarmup,
      count: options.pings,
      step: (side) => ping(client(side)),
    });
  }

  /** The idle PING cell: each PING after `settleMs` of idling, no warm-up. */
  idlePings(
    into: Samples<R, O>,
    options: InterleavedBenchOptions,
    client: (side: S) => RedisClient,
  ): Promise<PerSide<R | O>> {
    return this.measure(into, `PING after ${options.settleMs} ms idle`, {
      warmup: 0,
      count: options.idleSamples,
      step: (side) => idlePing(client(side), options.settleMs),
    });
  }
}
