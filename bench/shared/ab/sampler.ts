/**
 * Interleaved A/B sampling of the comparison cells (the cluster cell: the
 * single-node client against the cluster client; the durability cell:
 * mutexes without `durability` against with): the sides under test take
 * turns sample by sample, and each measurement keeps its samples per side
 * and round, with the floors taken within the cell.
 *
 * @module
 */
import type { RedisClient } from "../../../mod.ts";
import { us } from "../format.ts";
import { idlePing, timedPing } from "../probes.ts";
import { summarize, type Summary } from "../stats.ts";
import type { InterleavedBenchOptions } from "./options.ts";

/**
 * One measurement on every side: all samples of all rounds, ms. `R` are the
 * sides that always take part, `O` those that may not (then absent).
 */
export type Compared<R extends string, O extends string = never> =
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

/** One sample of one side; `record` is false in the warm-up. */
export type Step<S> = (
  side: S,
  i: number,
  record: boolean,
) => Promise<number | undefined>;

/** One measurement of a round: a warm-up, then the measured samples. */
export interface MeasureRun<K extends string, S> {
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
    into: Partial<Record<C, Compared<R, O>>>,
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
  cell(): Compared<R, O> {
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
    } as Compared<R, O>;
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
    cell: MeasureRun<R | O, S>,
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
      step: (side) => timedPing(client(side)),
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
