/**
 * The cluster cell: the same lock measurements through a cluster client
 * (`redis+cluster://`, a private 3 primaries + 3 replicas cluster from
 * `harness/cluster.ts`) and through a single-node client (the bench's
 * `redis-server`), on the same machine, interleaved sample by sample
 * (`rounds.ts`):
 *
 * 1. floor: sequential `PING` (keyless: the cluster client sends it to any
 *    primary), sequential `GET` of one key (routed by its slot), and a
 *    `PING` sent after `settleMs` of idling, on each client;
 * 2. uncontended `Mutex` acquire + release cycles, one client;
 * 3. hand-off between two clients: one holds, the other waits; the holder
 *    releases once the waiter is in the queue ZSET and `2 * settleMs` more
 *    (a timed `GET` on the same server in between: the cell's floor), and
 *    the time from its `release()` call to the waiter's `acquire()`
 *    resolving is recorded; the releaser then waits in turn;
 * 4. the same hand-off with the waiters spread over `spreadNames` names:
 *    every name has a holder and a queued waiter at all times, and the
 *    names are released one at a time in turn, so each client's wake hub
 *    listens on all of them at once (in the cluster, a sharded pub/sub
 *    subscription per name on its slot's primary: on every primary).
 *
 * Every hand-off counts the holders of each name; two at once throws a
 * `ViolationError`.
 *
 * @module
 */
import { Mutex } from "../../../mod.ts";
import {
  type ClusterTopology,
  startCluster,
} from "../../../harness/cluster.ts";
import { skip } from "../../shared/ab/options.ts";
import { Clients, deleteRun, serverVersion } from "../../shared/redis.ts";
import type { Cell, CellContext } from "../types.ts";
import { clusterMarkdown } from "./report.ts";
import {
  CELLS,
  type Context,
  type Locks,
  makePairs,
  oneRound,
  SAMPLER,
  type Side,
} from "./rounds.ts";
import {
  type Client,
  type ClusterBenchOptions,
  type ClusterBenchResult,
  DEFAULT_CLUSTER_BENCH,
  LAYOUTS,
  QUICK_CLUSTER_BENCH,
} from "./types.ts";

/**
 * Starts a 3 + 3 cluster, runs the measurements through a cluster client
 * and through a single-node client of `url`, and stops the cluster. When
 * the cluster cannot start (no `redis-cli`, ...), returns a result with
 * `skipped` set instead of throwing.
 */
export async function benchCluster(
  { url, log, options }: CellContext<ClusterBenchOptions>,
): Promise<ClusterBenchResult> {
  const started = performance.now();
  const result: ClusterBenchResult = {
    options,
    singleUrl: url.replace(/\/\/[^@/]*@/, "//"),
    singleVersion: "",
    clusterVersion: "",
    primaries: 3,
    replicas: 3,
    startSeconds: NaN,
    directPort: NaN,
    shardChannels: [],
    seconds: NaN,
  };
  let cluster: ClusterTopology;
  try {
    cluster = await startCluster({ primaries: 3, replicasPerPrimary: 1 });
  } catch (error) {
    return skip(result, started, log, "the cluster did not start", error);
  }
  result.startSeconds = (performance.now() - started) / 1_000;
  log(`cluster started in ${result.startSeconds.toFixed(1)} s: ${cluster.url}`);
  const clients = new Clients();
  const open = (target: string) => clients.open(target);
  const ctx: Context = {
    options,
    runId: `lockbench-${crypto.randomUUID().slice(0, 8)}`,
    log,
    cluster,
    names: new Set(),
    shardChannels: [],
  };
  let single: Side | undefined;
  const locks = new Map<Client, Locks>();
  try {
    const sides: Side[] = [];
    for (const layout of LAYOUTS) {
      const target = layout === "single" ? url : cluster.url;
      const side: Side = {
        layout,
        a: await open(target),
        b: await open(target),
        observer: await open(target),
      };
      sides.push(side);
      if (layout === "single") single = side;
      locks.set(layout, {
        uncontended: new Mutex(side.a, `${ctx.runId}:cl:${layout}:uncontended`),
        handoff: makePairs(ctx, side, "handoff", 1),
        spread: makePairs(ctx, side, "spread", options.spreadNames),
      });
      ctx.names.add(`${ctx.runId}:cl:${layout}:uncontended`);
    }
    const clusterMutex = `${ctx.runId}:cl:cluster:uncontended`;
    result.directPort = await cluster.ownerOf(
      await cluster.keySlot(`redsync:{${clusterMutex}}`),
    );
    const plain = await open(`redis://127.0.0.1:${result.directPort}`);
    const direct: Side = {
      layout: "direct",
      a: plain,
      b: plain,
      observer: plain,
    };
    locks.set("direct", {
      uncontended: new Mutex(plain, clusterMutex),
      handoff: [],
      spread: [],
    });
    result.singleVersion = await serverVersion(sides[0].observer);
    result.clusterVersion = await serverVersion(sides[1].observer);
    await SAMPLER.rounds(
      result,
      CELLS,
      sides,
      ctx,
      (round, cells) => oneRound(ctx, round, direct, locks, cells),
    );
    result.shardChannels = ctx.shardChannels;
    result.seconds = (performance.now() - started) / 1_000;
    return result;
  } finally {
    const mutexes = [...locks.values()].flatMap((l) => [
      l.uncontended,
      ...[...l.handoff, ...l.spread].flatMap((p) => p.mutexes),
    ]);
    await Promise.allSettled(mutexes.map((m) => m[Symbol.asyncDispose]()));
    if (single) {
      try {
        await deleteRun(single.observer, ctx.runId, ctx.names);
      } catch (error) {
        log(`cleanup failed: ${String(error)}`);
      }
    }
    await clients.close();
    await cluster.close();
    log("cluster stopped");
  }
}

/** The cell: starts its own cluster; its single-node side is the bench's server. */
export const clusterCell: Cell<ClusterBenchOptions, ClusterBenchResult> = {
  id: "cluster",
  section: "cluster",
  about:
    "the uncontended cycle and the hand-off through a 3 + 3 cluster client against the single-node client",
  options: { full: DEFAULT_CLUSTER_BENCH, quick: QUICK_CLUSTER_BENCH },
  run: benchCluster,
  render: (result) => ({ markdown: clusterMarkdown(result) }),
};
