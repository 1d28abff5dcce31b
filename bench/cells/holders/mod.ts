/**
 * The many-holders cell: does the cost of an acquire + release grow with
 * the number of holders? One `Semaphore(100,000)` gets 50,000 live holders
 * (one filler client, leases of 10 minutes without renewal), then one
 * worker (a client of its own) cycles `acquire()` + `release()` on it and
 * on a `Semaphore(4)` that nobody else holds, interleaved cycle by cycle
 * (p50, p99), then in a batch on each (the server time of the scripts per
 * cycle, from `INFO commandstats`: `fcall` + `evalsha` + `eval`).
 *
 * It also checks the running total of permits in use (`owners['#used']`,
 * which the scripts keep instead of walking the holders): it must equal the
 * live holders' weights after the fill and after the cycles, and the keys
 * must be gone once every filler has released.
 *
 * @module
 */
import { connect } from "../../../mod.ts";
import { deleteRun } from "../../shared/redis.ts";
import { p50p99 } from "../../shared/stats.ts";
import type { Cell, CellContext } from "../types.ts";
import { holdersMarkdown, holdersTargetLines } from "./report.ts";
import { ManyHolders } from "./semaphores.ts";
import {
  type CycleBatch,
  type CycleFigures,
  DEFAULT_HOLDERS_BENCH,
  type HoldersBenchOptions,
  type HoldersBenchResult,
  type HoldersCheck,
  QUICK_HOLDERS_BENCH,
} from "./types.ts";

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
  { url, log, options }: CellContext<HoldersBenchOptions>,
): Promise<HoldersBenchResult> {
  const started = performance.now();
  const observer = await connect(url);
  const prefix = `lockbench-holders-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const cell = await ManyHolders.open(url, observer, prefix, options, log);
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
    await deleteRun(observer, prefix);
    await observer.close();
  }
}

/** The cell. */
export const holdersCell: Cell<HoldersBenchOptions, HoldersBenchResult> = {
  id: "ours-sem-holders",
  section: "locks",
  about:
    "Semaphore(100,000) with 50,000 live holders against Semaphore(4): acquire + release and Redis time",
  options: { full: DEFAULT_HOLDERS_BENCH, quick: QUICK_HOLDERS_BENCH },
  run: benchHolders,
  render: (result) => ({
    targets: holdersTargetLines(result),
    markdown: holdersMarkdown(result),
  }),
};
