/**
 * The semaphores of the many-holders cell: a large one with its filler
 * holders, a small one nobody else holds, and the worker that cycles on
 * both. Driven by the cell (`mod.ts`), and step by step by the runtimes
 * cell's children (`cells/runtimes/child.ts`).
 *
 * @module
 */
import {
  connect,
  type Lease,
  type RedisClient,
  Semaphore,
} from "../../../mod.ts";
import { commandDelta, commandStats } from "../../shared/redis.ts";
import { within } from "../../shared/timing.ts";
import type { CycleBatch, HoldersBenchOptions, HoldersCheck } from "./types.ts";

/**
 * The commands our cycles send: the scripts, as Redis Functions once loaded
 * (`FCALL`), else `EVALSHA`/`EVAL` (no waiting: nothing of the wake hub).
 */
const COMMANDS = ["fcall", "evalsha", "eval"];

/**
 * The two semaphores, the filler holders and the worker. `open()` fills;
 * `cycles()` measures; `close()` releases every filler and closes the
 * clients (the caller deletes the keys).
 */
export class ManyHolders {
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
  ): Promise<ManyHolders> {
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
      const cell = new ManyHolders(
        names,
        { observer, filler, worker },
        semaphores,
      );
      const before = await commandStats(observer);
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
      const delta = commandDelta(
        before,
        await commandStats(observer),
        COMMANDS,
      );
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
    const before = await commandStats(this.#observer);
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const start = performance.now();
      const lease = await semaphore.acquire();
      await lease.release();
      samples.push(performance.now() - start);
    }
    const delta = commandDelta(
      before,
      await commandStats(this.#observer),
      COMMANDS,
    );
    return { samples, calls: delta.calls, usec: delta.usec };
  }

  /** The large semaphore's holders and running total. */
  async check(): Promise<HoldersCheck> {
    const key = (part: string) => `redsync:{${this.large}}:${part}`;
    const holders = Number(await this.#observer.send("ZCARD", key("holders")));
    const used = await this.#observer.send("HGET", key("owners"), "#used");
    return { holders, used: used === null ? NaN : Number(used) };
  }

  /**
   * Releases every filler (in batches); returns what the large one has left
   * besides its last fencing token (kept in `owners` for a minute): keys,
   * and fields of `owners`.
   */
  async close(): Promise<number> {
    try {
      const leases = this.#leases.splice(0);
      for (let from = 0; from < leases.length; from += 1_000) {
        await Promise.all(
          leases.slice(from, from + 1_000).map((lease) => lease.release()),
        );
      }
      const keys = ["holders", "queue", "waiters", "wants"].map((part) =>
        `redsync:{${this.large}}:${part}`
      );
      const owners = `redsync:{${this.large}}:owners`;
      const fields = await this.#observer.send("HKEYS", owners) as string[];
      return Number(await this.#observer.send("EXISTS", ...keys)) +
        fields.filter((field) => field !== "#token").length;
    } finally {
      await Promise.allSettled([
        this.#semaphores.large[Symbol.asyncDispose](),
        this.#semaphores.small[Symbol.asyncDispose](),
      ]);
      await Promise.allSettled([this.#filler.close(), this.#worker.close()]);
    }
  }
}
