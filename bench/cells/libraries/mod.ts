/**
 * The libraries cell: our `Mutex` and `Semaphore` against redis-semaphore,
 * redlock v5 and @sesamecare-oss/redlock, all in this process, each worker
 * on a connection of its own. Four measurements:
 *
 * 1. floor (`floor.ts`): `redis-benchmark -c 1 -t ping`, our sequential
 *    PING, and the idle floors; at the start, after the hand-off, at the end;
 * 2. uncontended acquire + release cycles, one worker (`uncontended.ts`);
 * 3. hand-off latency in controlled rounds (`handoff.ts`);
 * 4. free-running contention (`contention.ts`): throughput, waits,
 *    fairness, and Redis commands per acquisition.
 *
 * It always runs in the lock section: its floors are what the section's
 * other cells are judged against. `BENCH_LOCKS_ONLY` keeps the contenders it
 * names. Every run counts the holders inside the critical section; more
 * than the limit throws (the benchmark exits non-zero).
 *
 * @module
 */
import {
  contenderIds,
  defaultContenders,
  handoffStrategies,
} from "../../shared/catalog.ts";
import { Connections } from "../../shared/connections.ts";
import type { Contender } from "../../shared/contenders.ts";
import { errorText } from "../../shared/format.ts";
import { deleteRun } from "../../shared/redis.ts";
import type { Cell, CellContext } from "../types.ts";
import { handoffChart } from "./chart.ts";
import { contentionMarkdown, measureContention } from "./contention.ts";
import {
  floorMarkdown,
  idlePublishP50Us,
  idleWakeP50Us,
  measureFloor,
  pingP50Us,
} from "./floor.ts";
import { handoffMarkdown, measureHandoff } from "./handoff.ts";
import { targetLines } from "./targets.ts";
import {
  DEFAULT_LOCK_BENCH,
  type LockBenchOptions,
  type LockBenchResult,
  QUICK_LOCK_BENCH,
  type Rig,
} from "./types.ts";
import { measureUncontended, uncontendedMarkdown } from "./uncontended.ts";

/** The hand-off chart, beside `results/latest.md`. */
const CHART = "handoff.svg";

/**
 * Runs the four measurements against the Redis at `url`. Throws a
 * `ViolationError` when a lock ever had too many holders.
 */
export async function runLibraries(
  { url, log, options, only }: CellContext<LockBenchOptions>,
): Promise<LockBenchResult> {
  const keep = (c: Contender) => only === undefined || only.matches(c.id);
  const connections = await Connections.open(url);
  const rig: Rig = {
    connections,
    url,
    runId: `lockbench-${crypto.randomUUID().slice(0, 8)}`,
    log,
    options,
    names: new Set(),
  };
  const started = performance.now();
  try {
    const floors = [await measureFloor(rig, "start")];
    const uncontended = await measureUncontended(
      rig,
      defaultContenders().filter(keep),
    );
    const handoff = await measureHandoff(
      rig,
      handoffStrategies().filter((s) => keep(s.contender)),
    );
    floors.push(await measureFloor(rig, "after hand-off"));
    const contention = await measureContention(
      rig,
      defaultContenders().filter(keep),
    );
    floors.push(await measureFloor(rig, "end"));
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
      await deleteRun(connections.observer, rig.runId, rig.names);
    } catch (error) {
      log(`cleanup failed: ${errorText(error)}`);
    }
    await connections.close();
  }
}

/** The cell: measured first in the lock section, whatever is selected. */
export const librariesCell: Cell<LockBenchOptions, LockBenchResult> = {
  id: "libraries",
  section: "locks",
  about:
    "floors; every library's uncontended cycle, hand-off at W workers and free-running contention",
  options: { full: DEFAULT_LOCK_BENCH, quick: QUICK_LOCK_BENCH },
  always: true,
  ids: contenderIds(),
  run: runLibraries,
  page: (result) => ({
    floors: {
      pingUs: pingP50Us(result),
      idleWakeUs: idleWakeP50Us(result),
      idlePublishUs: idlePublishP50Us(result),
    },
  }),
  render: (result) => ({
    targets: targetLines(result),
    markdown: [
      floorMarkdown(result),
      uncontendedMarkdown(result, pingP50Us(result)),
      handoffMarkdown(result, CHART),
      contentionMarkdown(result),
    ].join("\n\n"),
    files: { [CHART]: handoffChart(result) },
  }),
};
