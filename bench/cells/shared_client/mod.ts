/**
 * The shared-client cells: every waiter on ONE `RedisClient`, woken
 * through the client's wake hub (one subscriber connection for all of them,
 * `SUBSCRIBE`d to the client's wake channel).
 * Two measurements:
 *
 * 1. hand-off (`handoff.ts`): the controlled rounds of the lock cells on
 *    our `Mutex` and our `Semaphore`, all W workers on one client, next to
 *    the same with one client per worker where feasible, and the
 *    connections each cell opened;
 * 2. a "web server" (`web.ts`): one client, C request loops doing acquire
 *    -> 1 ms of work -> release over K mutex names for a fixed time.
 *
 * Every cell counts the holders inside the critical section; more than the
 * limit throws a `ViolationError`.
 *
 * @module
 */
import { connect } from "../../../mod.ts";
import { msText } from "../../shared/format.ts";
import { deleteRun } from "../../shared/redis.ts";
import type { Cell, CellContext } from "../types.ts";
import { measureHandoff } from "./handoff.ts";
import { sharedMarkdown, sharedTargetLines } from "./report.ts";
import {
  DEFAULT_SHARED_BENCH,
  QUICK_SHARED_BENCH,
  type Rig,
  type SharedBenchOptions,
  type SharedBenchResult,
} from "./types.ts";
import { webCell } from "./web.ts";

/**
 * Runs the shared-client hand-off cells and the web-server cell against
 * the Redis at `url`. Throws a `ViolationError` when a lock ever had too
 * many holders.
 */
export async function benchShared(
  { url, log, options }: CellContext<SharedBenchOptions>,
): Promise<SharedBenchResult> {
  const observer = await connect(url);
  const rig: Rig = {
    url,
    observer,
    runId: `lockbench-${crypto.randomUUID().slice(0, 8)}`,
    options,
    names: new Set(),
  };
  const started = performance.now();
  try {
    const handoff = await measureHandoff(rig, log);
    const web = await webCell(rig);
    log(
      `web server: ${web.loops} loops over ${web.names} mutexes, ${
        Math.round(web.perSec)
      } critical sections/s (critical section p50 ${
        msText(web.criticalP50)
      } ms), wait p50 ${msText(web.wait.p50)} ms, p99 ${
        msText(web.wait.p99)
      } ms, max ${msText(web.maxWait)} ms, Jain ${
        web.jain.toFixed(3)
      }, ${web.connections} connections, ${
        web.commandsPerAcquire.toFixed(2)
      } commands/acquisition`,
    );
    return {
      options,
      handoff,
      web,
      seconds: (performance.now() - started) / 1_000,
    };
  } finally {
    try {
      await deleteRun(observer, rig.runId, rig.names);
    } catch (error) {
      log(`shared cleanup failed: ${String(error)}`);
    }
    await observer.close();
  }
}

/** The cell; its report puts the hand-offs next to the section's floors. */
export const sharedClientCell: Cell<SharedBenchOptions, SharedBenchResult> = {
  id: "ours-shared",
  section: "locks",
  about:
    "every waiter on one client, 8 to 10,000 waiters, against a client per worker; a web server of 1,000 request loops",
  options: { full: DEFAULT_SHARED_BENCH, quick: QUICK_SHARED_BENCH },
  run: benchShared,
  render: (result, page) => ({
    targets: sharedTargetLines(result),
    markdown: sharedMarkdown(
      result,
      page.floors ?? { pingUs: NaN, idleWakeUs: NaN, idlePublishUs: NaN },
    ),
  }),
};
