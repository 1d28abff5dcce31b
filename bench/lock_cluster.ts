/**
 * Lock benchmark, Redis Cluster: the same measurements through a cluster
 * client (`redis+cluster://`, a private 3 primaries + 3 replicas cluster
 * from `harness/cluster.ts`) and through a single-node client (the bench's
 * `redis-server`), on the same machine, interleaved sample by sample:
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
 * Runs in `deno task bench` (section `cluster`), or alone:
 * `deno run -A bench/lock_cluster.ts` (its own `redis-server`, or
 * `REDIS_URL`; `BENCH_QUICK=1` for a short run), which prints the markdown.
 *
 * @module
 */
import process from "node:process";
import { Mutex, type RedisClient } from "../mod.ts";
import { type ClusterTopology, startCluster } from "../harness/cluster.ts";
import { startRedis } from "../harness/server.ts";
import { deleteRun, Oracle } from "./locks.ts";
import * as ab from "./interleave.ts";
import {
  type HandoffRound,
  handoffRound,
  HandoffRun,
  makePair,
  type Pair,
} from "./handoff.ts";
import { clusterMarkdown } from "./lock_cluster_report.ts";

/**
 * How much work the cluster cells do: `pings` also counts the `GET`s, and
 * the spread cell's warm-up has one more hand-off per name.
 */
export interface ClusterBenchOptions extends ab.InterleavedBenchOptions {
  /** Names of the spread cell. */
  spreadNames: number;
}

/** About 60 s on 2 cores. */
export const DEFAULT_CLUSTER_BENCH: ClusterBenchOptions = {
  ...ab.DEFAULT_INTERLEAVED_BENCH,
  spreadNames: 100,
};

/** `BENCH_QUICK=1`: two short rounds, about 10 s. */
export const QUICK_CLUSTER_BENCH: ClusterBenchOptions = {
  ...DEFAULT_CLUSTER_BENCH,
  ...ab.QUICK_INTERLEAVED_BENCH,
};

/** Which client. */
export type Layout = "single" | "cluster";
export const LAYOUTS: readonly Layout[] = ["single", "cluster"];
/**
 * The clients, with the control of the uncontended cell: a single-node
 * client connected straight to the cluster primary that holds the mutex.
 */
export type Client = Layout | "direct";

/**
 * One measurement on both clients: every sample of every round, ms; `direct`
 * is the control (uncontended only): the cluster's primary, plain client.
 * The lock cells' own `floor`: a round trip to the server the lock lives on,
 * sampled within the cell next to every measured sample, so that it shares
 * the cell's moment and server (uncontended: a `GET` in the mutex's slot
 * just before each cycle; hand-off: the same after `settleMs` of idling,
 * `settleMs` before each release). `capped`: some round stopped at
 * `cellMs` before its hand-offs.
 */
export type ClusterCell = ab.Cell<Layout, "direct">;

/** Everything {@linkcode benchCluster} measured. */
export interface ClusterBenchResult {
  options: ClusterBenchOptions;
  /** Set when the cluster could not be started: nothing was measured. */
  skipped?: string;
  /** The single node's address (no password) and the servers' versions. */
  singleUrl: string;
  singleVersion: string;
  clusterVersion: string;
  /** Nodes of the cluster: primaries and replicas. */
  primaries: number;
  replicas: number;
  /** Seconds to start the cluster (until every node agrees). */
  startSeconds: number;
  /** The port of the primary that holds the uncontended mutex. */
  directPort: number;
  ping?: ClusterCell;
  get?: ClusterCell;
  idlePing?: ClusterCell;
  uncontended?: ClusterCell;
  handoff?: ClusterCell;
  spread?: ClusterCell;
  /**
   * Wake channels of the spread cell per primary (`PUBSUB SHARDCHANNELS`
   * on each, mid-cell): both clients' hubs, one channel per name each.
   */
  shardChannels: number[];
  seconds: number;
}

/** One client under test, with a second one for the hand-offs. */
interface Side {
  layout: Client;
  /** Holds the uncontended mutex and one side of each hand-off. */
  a: RedisClient;
  /** The other side of each hand-off. */
  b: RedisClient;
  /** ZCARD of the queues; not used by the locks. */
  observer: RedisClient;
}

interface Context {
  options: ClusterBenchOptions;
  runId: string;
  log(line: string): void;
  cluster: ClusterTopology;
  /** Lock names, for cleaning `redsync:contended` on the single node. */
  names: Set<string>;
  shardChannels: number[];
}

/** The three clients, sampled in turn. */
const SAMPLER = new ab.Interleave(
  LAYOUTS,
  ["direct"] as const,
  (s: Side) => s.layout,
);

// ---------------------------------------------------------------------------
// 3, 4. Hand-off between two clients, on one name or spread over many
// ---------------------------------------------------------------------------

/** Sharded pub/sub channels of this run on each primary of the cluster. */
async function countShardChannels(ctx: Context): Promise<number[]> {
  const primaries = await ctx.cluster.primaries();
  return await Promise.all(primaries.map(async (p) => {
    const out = await ctx.cluster.cli(
      p.port,
      "PUBSUB",
      "SHARDCHANNELS",
      `*${ctx.runId}*`,
    );
    return out.split("\n").filter((line) => line.trim() !== "").length;
  }));
}

/**
 * One round of a hand-off cell, both layouts interleaved; its floor: a `GET`
 * in the name's slot from the holder's client.
 */
function clusterHandoffRound(
  ctx: Context,
  round: ab.Round<Layout, "direct", Side>,
  pairsOf: (side: Side) => Pair[],
  spread: boolean,
): Promise<HandoffRound<Client>> {
  const { options } = ctx;
  // One turn of the names first: both hubs then listen on every name.
  const names = pairsOf(round.sides[0]).length;
  return handoffRound(
    round,
    (side) =>
      new HandoffRun(pairsOf(side), {
        observer: side.observer,
        settleMs: options.settleMs,
        probe: (client, pair) => client.send("GET", `floor:{${pair.name}}`),
        what: "cluster",
      }),
    {
      warmup: options.handoffWarmup + (names > 1 ? names : 0),
      count: options.handoffRounds,
      cellMs: options.cellMs,
      beforeMeasured: async () => {
        if (spread && ctx.shardChannels.length === 0) {
          ctx.shardChannels = await countShardChannels(ctx);
        }
      },
    },
  );
}

// ---------------------------------------------------------------------------
// Rounds
// ---------------------------------------------------------------------------

/** The mutexes of one client, made once, used in every round. */
interface Locks {
  uncontended: Mutex;
  handoff: Pair[];
  spread: Pair[];
}

function makePairs(
  ctx: Context,
  side: Side,
  label: string,
  count: number,
): Pair[] {
  return Array.from({ length: count }, (_, k) => {
    const name = `${ctx.runId}:cl:${side.layout}:${label}:${k}`;
    ctx.names.add(name);
    return makePair(
      name,
      [side.a, side.b],
      (client) => new Mutex(client, name),
      new Oracle(1, `${side.layout} ${name}`),
    );
  });
}

const CELLS = [
  "ping",
  "get",
  "idlePing",
  "uncontended",
  "handoff",
  "spread",
] as const;
type Cells = Record<(typeof CELLS)[number], ab.Samples<Layout, "direct">>;

async function oneRound(
  ctx: Context,
  round: ab.Round<Layout, "direct", Side>,
  direct: Side,
  locks: Map<Client, Locks>,
  cells: Cells,
): Promise<void> {
  const { options } = ctx;
  const key = `${ctx.runId}:cl:get`;
  for (const side of round.sides) await side.a.send("SET", key, "v");
  await round.pings(cells.ping, options, (side) => side.a);
  await round.measure(cells.get, "GET", {
    warmup: options.pingWarmup,
    count: options.pings,
    step: (side) => ab.timed(() => side.a.send("GET", key)),
  });
  await round.idlePings(cells.idlePing, options, (side) => side.a);

  // Each cycle follows a GET in the mutex's slot (its server): the floor.
  // The direct client (the control) cycles the cluster's mutex by name.
  const floors = SAMPLER.per<number[]>(() => []);
  await round.measure(cells.uncontended, "uncontended acquire + release", {
    warmup: options.uncontendedWarmup,
    count: options.uncontendedCycles,
    sides: [...round.sides, direct],
    floors,
    step: async (side, _, record) => {
      const mutex = locks.get(side.layout)!.uncontended;
      const floor = await ab.timed(() =>
        side.a.send("GET", `floor:{${mutex.name}}`)
      );
      if (record) floors[side.layout].push(floor);
      return await ab.cycle(mutex);
    },
  });

  for (const cell of ["handoff", "spread"] as const) {
    const started = performance.now();
    const { samples, floors, capped } = await clusterHandoffRound(
      ctx,
      round,
      (side) => locks.get(side.layout)![cell],
      cell === "spread",
    );
    cells[cell].add(samples, floors);
    cells[cell].capped ||= capped;
    round.report(
      `hand-off over ${cell === "spread" ? options.spreadNames : 1} name(s), ${
        ((performance.now() - started) / 1_000).toFixed(1)
      } s`,
      samples,
    );
  }
}

/**
 * Starts a 3 + 3 cluster, runs the measurements through a cluster client
 * and through a single-node client of `url`, and stops the cluster. When
 * the cluster cannot start (no `redis-cli`, ...), returns a result with
 * `skipped` set instead of throwing.
 */
export async function benchCluster(
  url: string,
  log: (line: string) => void,
  options: ClusterBenchOptions = DEFAULT_CLUSTER_BENCH,
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
    return ab.skip(result, started, log, "the cluster did not start", error);
  }
  result.startSeconds = (performance.now() - started) / 1_000;
  log(`cluster started in ${result.startSeconds.toFixed(1)} s: ${cluster.url}`);
  const clients = new ab.Clients();
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
    result.singleVersion = await ab.serverVersion(sides[0].observer);
    result.clusterVersion = await ab.serverVersion(sides[1].observer);
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

if (import.meta.main) {
  const external = process.env.REDIS_URL;
  const server = external ? undefined : await startRedis();
  try {
    const quick = process.env.BENCH_QUICK === "1";
    const result = await benchCluster(
      external || server!.url,
      (line) => console.log(`[cluster] ${line}`),
      quick ? QUICK_CLUSTER_BENCH : DEFAULT_CLUSTER_BENCH,
    );
    console.log(`\n${clusterMarkdown(result)}`);
  } finally {
    await server?.stop();
  }
}
