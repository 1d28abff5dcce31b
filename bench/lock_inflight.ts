/**
 * Lock benchmark, acquires in flight on one object: the production shape of
 * a module-level `const mutex = new Mutex(redis, "x")` that every request
 * of a server uses at once. Does the client's CPU per acquire grow with the
 * number of acquires in flight on that one object? (It did: each acquire
 * listened on the object's shared "disposed" signal, and `EventTarget`
 * scans its listener list on every add and remove.)
 *
 * One client; `n` acquires started at once (no signal, the plain
 * `acquire()`), each released as soon as it resolves, on ONE `Mutex`
 * object, and again with one `Mutex` object per acquire (the reference),
 * for each `n`; the process's CPU time (user + system, which includes the
 * runtime's I/O threads) per acquire, and the wall time. Rounds alternate
 * the order; medians over rounds.
 *
 * Then a burst across names: `n` mutexes (distinct names) held on one
 * client, one waiter on each queued on another client, all released at
 * once: the time until every waiter holds, and the `BLMPOP`s the waiters'
 * hub needed (`INFO commandstats`). One wake list per client takes up to
 * 1,000 messages per call; one list per primitive (before) took one call
 * per name.
 *
 * @module
 */
import process from "node:process";
import { connect, Mutex } from "../mod.ts";
import {
  commandDelta,
  parseCommandStats,
  sleep,
  within,
} from "./lock_stats.ts";
import { deleteRun } from "./locks.ts";

/** Matched by `BENCH_LOCKS_ONLY` to keep (or drop) this cell. */
export const INFLIGHT_ID = "ours-inflight";

/** How much work the cell does. */
export interface InflightBenchOptions {
  /** Acquires in flight at once, smallest first. */
  counts: number[];
  /** Rounds, each running every count on both layouts. */
  rounds: number;
  /** Limit of one batch of acquires. */
  batchMs: number;
  /** Names in a burst of grants, smallest first. */
  burstNames: number[];
}

/** About 10-20 s on 2 cores. */
export const DEFAULT_INFLIGHT_BENCH: InflightBenchOptions = {
  counts: [500, 5_000],
  rounds: 3,
  batchMs: 60_000,
  burstNames: [100, 1_000],
};

/** `BENCH_QUICK=1`: a smoke run. */
export const QUICK_INFLIGHT_BENCH: InflightBenchOptions = {
  counts: [100, 1_000],
  rounds: 1,
  batchMs: 30_000,
  burstNames: [50, 200],
};

/** One object for every acquire, or one per acquire. */
export type InflightLayout = "one object" | "object per acquire";

/** The figures of one count on one layout (medians over rounds). */
export interface InflightFigures {
  layout: InflightLayout;
  inFlight: number;
  /** CPU time of the process per acquire + release, us. */
  cpuUs: number;
  /** Wall time of the whole batch, s. */
  wallS: number;
  /** Per round, in order. */
  roundCpuUs: number[];
}

/** A burst of grants across names (medians over rounds). */
export interface BurstFigures {
  names: number;
  /** From the releases' start until every waiter holds, ms. */
  allMs: number;
  /** `BLMPOP` calls during that time. */
  blmpops: number;
  /** Per round, in order. */
  roundMs: number[];
}

/** What the cell measured. */
export interface InflightBenchResult {
  options: InflightBenchOptions;
  rows: InflightFigures[];
  bursts: BurstFigures[];
  seconds: number;
}

/**
 * `n` names held on one client and waited for on another, all released at
 * once: ms until every waiter holds, and the `BLMPOP`s meanwhile.
 */
async function burst(
  url: string,
  run: string,
  n: number,
  limitMs: number,
): Promise<{ allMs: number; blmpops: number }> {
  const [holders, waiters, observer] = await Promise.all(
    [0, 1, 2].map(() => connect(url)),
  );
  try {
    const names = Array.from({ length: n }, (_, i) => `${run}-burst-${i}`);
    const held = await Promise.all(
      names.map((name) => new Mutex(holders, name).acquire()),
    );
    const waiting = names.map((name) =>
      new Mutex(waiters, name).acquire(AbortSignal.timeout(limitMs))
    );
    const deadline = performance.now() + limitMs;
    for (let polls = 0;; polls++) {
      const queued = await Promise.all(
        names.map((name) => observer.send("ZCARD", `redsync:{${name}}:queue`)),
      );
      if (queued.every((count) => Number(count) === 1)) break;
      if (performance.now() > deadline) {
        throw new Error(`burst of ${n}: waiters not queued in time`);
      }
      await sleep(polls < 10 ? 1 : 10);
    }
    await sleep(5);
    const stats = async () =>
      parseCommandStats(String(await observer.send("INFO", "commandstats")));
    const before = await stats();
    const started = performance.now();
    await Promise.all(held.map((lease) => lease.release()));
    const leases = await within(Promise.all(waiting), limitMs, `burst ${n}`);
    const allMs = performance.now() - started;
    const { calls } = commandDelta(before, await stats(), ["blmpop"]);
    await Promise.all(leases.map((lease) => lease.release()));
    return { allMs, blmpops: calls };
  } finally {
    await Promise.all([holders, waiters, observer].map((c) => c.close()));
  }
}

/** `n` acquires at once on `layout`, each released when it resolves. */
async function batch(
  url: string,
  name: string,
  n: number,
  layout: InflightLayout,
  limitMs: number,
): Promise<{ cpuUs: number; wallS: number }> {
  const client = await connect(url);
  try {
    const one = new Mutex(client, name);
    // Warm the connections (main and wake hub) and the scripts.
    await (await one.acquire()).release();
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const all: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const mutex = layout === "one object" ? one : new Mutex(client, name);
      all.push(mutex.acquire().then((lease) => lease.release()));
    }
    await within(Promise.all(all), limitMs, `in-flight batch of ${n}`);
    const wallS = (performance.now() - started) / 1_000;
    const cpu = process.cpuUsage(cpu0);
    return { cpuUs: (cpu.user + cpu.system) / n, wallS };
  } finally {
    await client.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Runs the cell; every key it made is gone at the end. */
export async function benchInflight(
  url: string,
  log: (line: string) => void,
  options: InflightBenchOptions = DEFAULT_INFLIGHT_BENCH,
): Promise<InflightBenchResult> {
  const started = performance.now();
  const name = `lockbench-inflight-${crypto.randomUUID().slice(0, 8)}`;
  const layouts: InflightLayout[] = ["one object", "object per acquire"];
  const samples = new Map<string, { cpu: number[]; wall: number[] }>();
  const keyOf = (layout: InflightLayout, n: number) => `${layout}|${n}`;
  const bursts = new Map<number, { ms: number[]; calls: number[] }>();
  try {
    for (let round = 0; round < options.rounds; round++) {
      for (const n of options.burstNames) {
        const figures = await burst(url, name, n, options.batchMs);
        const entry = bursts.get(n) ?? { ms: [], calls: [] };
        entry.ms.push(figures.allMs);
        entry.calls.push(figures.blmpops);
        bursts.set(n, entry);
        log(
          `in flight round ${
            round + 1
          }/${options.rounds}: burst of ${n} names: ${
            figures.allMs.toFixed(0)
          } ms, ${figures.blmpops} BLMPOPs`,
        );
      }
      const order = round % 2 === 0 ? layouts : [...layouts].reverse();
      for (const n of options.counts) {
        for (const layout of order) {
          const figures = await batch(url, name, n, layout, options.batchMs);
          const entry = samples.get(keyOf(layout, n)) ??
            { cpu: [], wall: [] };
          entry.cpu.push(figures.cpuUs);
          entry.wall.push(figures.wallS);
          samples.set(keyOf(layout, n), entry);
          log(
            `in flight round ${
              round + 1
            }/${options.rounds}: ${n} on ${layout}: ${
              figures.cpuUs.toFixed(0)
            } us CPU per acquire, ${figures.wallS.toFixed(2)} s`,
          );
        }
      }
    }
  } finally {
    const cleaner = await connect(url);
    try {
      const burstNames = options.burstNames.flatMap((n) =>
        Array.from({ length: n }, (_, i) => `${name}-burst-${i}`)
      );
      await deleteRun(cleaner, name, [name, ...burstNames]);
    } finally {
      await cleaner.close();
    }
  }
  const rows: InflightFigures[] = [];
  for (const layout of layouts) {
    for (const n of options.counts) {
      const entry = samples.get(keyOf(layout, n))!;
      rows.push({
        layout,
        inFlight: n,
        cpuUs: median(entry.cpu),
        wallS: median(entry.wall),
        roundCpuUs: entry.cpu,
      });
    }
  }
  return {
    options,
    rows,
    bursts: options.burstNames.map((n) => {
      const entry = bursts.get(n)!;
      return {
        names: n,
        allMs: median(entry.ms),
        blmpops: median(entry.calls),
        roundMs: entry.ms,
      };
    }),
    seconds: (performance.now() - started) / 1_000,
  };
}
