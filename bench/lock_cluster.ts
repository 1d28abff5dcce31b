/**
 * Lock benchmark, Redis Cluster: the same measurements through a cluster
 * client (`redis+cluster://`, a private 3 primaries + 3 replicas cluster
 * from `tests/_cluster.ts`) and through a single-node client (the bench's
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
import { connect, type Lease, Mutex, type RedisClient } from "../mod.ts";
import { type ClusterTopology, startCluster } from "../tests/_cluster.ts";
import { startRedis } from "../tests/_server.ts";
import { deleteRun, Oracle } from "./locks.ts";
import {
  sleep,
  sleepUntil,
  summarize,
  type Summary,
  within,
} from "./lock_stats.ts";
import { clusterMarkdown } from "./lock_cluster_report.ts";

/** How much work the cluster cells do. */
export interface ClusterBenchOptions {
  /** Rounds; in each, both clients run every measurement, order alternating. */
  rounds: number;
  /** Sequential PINGs (and GETs) per client and round, after a warm-up. */
  pings: number;
  pingWarmup: number;
  /** PINGs after `settleMs` of idling, per client and round. */
  idleSamples: number;
  uncontendedWarmup: number;
  /** Timed acquire + release cycles per client and round. */
  uncontendedCycles: number;
  /** The holder waits this long once the waiter is queued. */
  settleMs: number;
  /** Unmeasured hand-offs first, each round (plus one per spread name). */
  handoffWarmup: number;
  /** Measured hand-offs per client, cell and round... */
  handoffRounds: number;
  /** ...within this time. */
  cellMs: number;
  /** Names of the spread cell. */
  spreadNames: number;
}

/** About 60 s on 2 cores. */
export const DEFAULT_CLUSTER_BENCH: ClusterBenchOptions = {
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
  spreadNames: 100,
};

/** `BENCH_QUICK=1`: two short rounds, about 10 s. */
export const QUICK_CLUSTER_BENCH: ClusterBenchOptions = {
  ...DEFAULT_CLUSTER_BENCH,
  rounds: 2,
  pings: 500,
  pingWarmup: 200,
  idleSamples: 30,
  uncontendedWarmup: 100,
  uncontendedCycles: 200,
  handoffRounds: 50,
  cellMs: 2_000,
};

/** Which client. */
export type Layout = "single" | "cluster";
export const LAYOUTS: readonly Layout[] = ["single", "cluster"];
/**
 * The clients, with the control of the uncontended cell: a single-node
 * client connected straight to the cluster primary that holds the mutex.
 */
export type Client = Layout | "direct";

const perClient = <T>(make: () => T): Record<Client, T> => ({
  single: make(),
  cluster: make(),
  direct: make(),
});

/** One measurement on both clients: every sample of every round, ms. */
export interface ClusterCell {
  single: Summary;
  cluster: Summary;
  /** p50 of each round, ms. */
  roundP50: Record<Layout, number[]> & { direct?: number[] };
  /** The control (uncontended only): the cluster's primary, plain client. */
  direct?: Summary;
  /**
   * The lock cells' own floor: a round trip to the server the lock lives on,
   * sampled within the cell next to every measured sample, so that it shares
   * the cell's moment and server (uncontended: a `GET` in the mutex's slot
   * just before each cycle; hand-off: the same after `settleMs` of idling,
   * `settleMs` before each release).
   */
  floor?: Record<Layout, Summary> & { direct?: Summary };
  /** Some round stopped at `cellMs` before its hand-offs. */
  capped: boolean;
}

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

/** Samples of one measurement, per layout and round. */
class Samples {
  readonly rounds = perClient<number[][]>(() => []);
  readonly floors = perClient<number[]>(() => []);
  capped = false;

  /** One round's samples (and floors) of each client that took part. */
  add(
    samples: Record<Client, number[]>,
    floors?: Record<Client, number[]>,
  ): void {
    for (const client of Object.keys(samples) as Client[]) {
      if (samples[client].length === 0) continue;
      this.rounds[client].push(samples[client]);
      this.floors[client].push(...floors?.[client] ?? []);
    }
  }

  cell(): ClusterCell {
    const all = (c: Client) => summarize(this.rounds[c].flat());
    const p50s = (c: Client) => this.rounds[c].map((r) => summarize(r).p50);
    const floor = (c: Client) => summarize(this.floors[c]);
    const direct = this.rounds.direct.length > 0;
    return {
      single: all("single"),
      cluster: all("cluster"),
      roundP50: {
        single: p50s("single"),
        cluster: p50s("cluster"),
        direct: direct ? p50s("direct") : undefined,
      },
      direct: direct ? all("direct") : undefined,
      floor: this.floors.single.length > 0
        ? {
          single: floor("single"),
          cluster: floor("cluster"),
          direct: direct ? floor("direct") : undefined,
        }
        : undefined,
      capped: this.capped,
    };
  }
}

function us(ms: number): string {
  return Number.isFinite(ms) ? (ms * 1_000).toFixed(0) : "n/a";
}

// ---------------------------------------------------------------------------
// Interleaving
// ---------------------------------------------------------------------------

/**
 * Runs `step` on each side in turn, `count` times (fewer past `deadline`),
 * the order reversed every other time (ABBA...), so that all see the same
 * moments of the machine: on a small shared VM, a loopback round trip
 * switches between about 20 and 90 us from one second to the next, which
 * would otherwise land on whichever client ran then.
 */
async function interleaved(
  sides: readonly Side[],
  round: number,
  count: number,
  step: (side: Side, i: number) => Promise<number | undefined>,
  deadline = Infinity,
): Promise<Record<Client, number[]>> {
  const samples = perClient<number[]>(() => []);
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    const order = (i + round) % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      const sample = await step(side, i);
      if (sample !== undefined) samples[side.layout].push(sample);
    }
  }
  return samples;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

// ---------------------------------------------------------------------------
// 3, 4. Hand-off between two clients, on one name or spread over many
// ---------------------------------------------------------------------------

/** A waiter's `acquire()`, resolved with the time it resolved. */
type Won = { lease: Lease; at: number };

/** One name: its mutex on each client, the holder's lease, the waiter. */
interface Pair {
  name: string;
  mutexes: [Mutex, Mutex];
  oracle: Oracle;
  holder: 0 | 1;
  lease: Lease | undefined;
  waiting: Promise<Won> | undefined;
}

/** Until the queue ZSET of `name` has a member (the waiter); 10 s at most. */
async function untilQueued(observer: RedisClient, name: string) {
  const key = `redsync:{${name}}:queue`;
  const deadline = performance.now() + 10_000;
  for (let polls = 0;; polls++) {
    if (Number(await observer.send("ZCARD", key)) >= 1) return;
    if (performance.now() > deadline) {
      throw new Error(`cluster hand-off: no waiter queued on ${name}`);
    }
    if (polls > 20) await sleep(0);
  }
}

/**
 * The hand-offs of one client layout on `pairs.length` names: each name
 * held on one client with a waiter queued on the other; each `step` hands
 * the next name (in turn) to its waiter, and the releaser queues again.
 */
class HandoffRun {
  readonly #abort = new AbortController();
  constructor(
    readonly side: Side,
    readonly pairs: readonly Pair[],
    readonly settleMs: number,
  ) {}

  #wait(pair: Pair, client: 0 | 1): void {
    pair.waiting = pair.mutexes[client].acquire(this.#abort.signal).then(
      (lease) => {
        const at = performance.now();
        pair.oracle.enter();
        return { lease, at };
      },
    );
  }

  async setup(): Promise<void> {
    for (const pair of this.pairs) {
      pair.holder = 0;
      pair.lease = await pair.mutexes[0].acquire(AbortSignal.timeout(10_000));
      pair.oracle.enter();
      this.#wait(pair, 1);
    }
  }

  /**
   * Hand-off `i`: the release-to-acquired latency, ms. Its floor goes to
   * `floors`: after a settle, a `GET` in the name's slot from the holder's
   * client (a round trip to the same server after the same idling); then
   * another settle. Without `floors` (the warm-up), no settles.
   */
  async step(i: number, floors?: number[]): Promise<number> {
    const pair = this.pairs[i % this.pairs.length];
    const releaser = pair.holder;
    await untilQueued(this.side.observer, pair.name);
    if (floors) {
      await sleepUntil(performance.now() + this.settleMs);
      const client = releaser === 0 ? this.side.a : this.side.b;
      const key = `floor:{${pair.name}}`;
      floors.push(await timed(() => client.send("GET", key)));
      await sleepUntil(performance.now() + this.settleMs);
    }
    pair.oracle.leave();
    const start = performance.now();
    await pair.lease!.release();
    const won = await within(pair.waiting!, 10_000, `hand-off ${pair.name}`);
    pair.oracle.check();
    pair.lease = won.lease;
    pair.holder = releaser === 0 ? 1 : 0;
    this.#wait(pair, releaser);
    return won.at - start;
  }

  /** Waiters stop; holders (and a waiter that won anyway) release. */
  async close(): Promise<void> {
    this.#abort.abort();
    const won = await Promise.allSettled(this.pairs.map((p) => p.waiting));
    await Promise.allSettled(this.pairs.flatMap((pair, k) => {
      const w = won[k];
      const leases = [
        pair.lease,
        w.status === "fulfilled" ? w.value?.lease : undefined,
      ].filter((lease) => lease !== undefined);
      pair.lease = undefined;
      pair.waiting = undefined;
      return leases.map((lease) => {
        pair.oracle.leave();
        return lease.release();
      });
    }));
  }
}

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

/** One round of a hand-off cell, both layouts interleaved. */
async function handoffRound(
  ctx: Context,
  round: number,
  sides: readonly Side[],
  pairsOf: (side: Side) => Pair[],
  spread: boolean,
): Promise<
  {
    samples: Record<Client, number[]>;
    floors: Record<Client, number[]>;
    capped: boolean;
  }
> {
  const { options } = ctx;
  const runs = new Map(
    sides.map((side) => [
      side.layout,
      new HandoffRun(side, pairsOf(side), options.settleMs),
    ]),
  );
  const floors = perClient<number[]>(() => []);
  const step = (side: Side, i: number) => runs.get(side.layout)!.step(i);
  try {
    for (const run of runs.values()) await run.setup();
    // One turn of the names first: both hubs then listen on every name.
    const names = pairsOf(sides[0]).length;
    const warmup = options.handoffWarmup + (names > 1 ? names : 0);
    await interleaved(sides, round, warmup, step);
    if (spread && ctx.shardChannels.length === 0) {
      ctx.shardChannels = await countShardChannels(ctx);
    }
    // Continue the turn where the warm-up left it.
    const samples = await interleaved(
      sides,
      round,
      options.handoffRounds,
      (side, i) => runs.get(side.layout)!.step(warmup + i, floors[side.layout]),
      performance.now() + options.cellMs,
    );
    const capped = LAYOUTS.some((l) =>
      samples[l].length < options.handoffRounds
    );
    return { samples, floors, capped };
  } finally {
    await Promise.allSettled([...runs.values()].map((run) => run.close()));
  }
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
    return {
      name,
      mutexes: [new Mutex(side.a, name), new Mutex(side.b, name)],
      oracle: new Oracle(1, `${side.layout} ${name}`),
      holder: 0,
      lease: undefined,
      waiting: undefined,
    };
  });
}

type Cells = Record<
  "ping" | "get" | "idlePing" | "uncontended" | "handoff" | "spread",
  Samples
>;

function logPair(
  log: (line: string) => void,
  what: string,
  samples: Record<Client, number[]>,
): void {
  const clients = (Object.keys(samples) as Client[]).filter((c) =>
    samples[c].length > 0
  );
  log(
    `${what}: ${
      clients.map((c) => {
        const s = summarize(samples[c]);
        return `${c} p50 ${us(s.p50)} us, p99 ${us(s.p99)} us`;
      }).join("; ")
    } (${samples.single.length} each)`,
  );
}

async function oneRound(
  ctx: Context,
  round: number,
  sides: Side[],
  direct: Side,
  locks: Map<Client, Locks>,
  cells: Cells,
): Promise<void> {
  const { options, log } = ctx;
  const tag = `round ${round + 1}/${options.rounds}`;
  const key = `${ctx.runId}:cl:get`;
  for (const side of sides) await side.a.send("SET", key, "v");
  const send = (args: readonly string[]) => (side: Side) =>
    timed(() => side.a.send(args[0], ...args.slice(1)));
  const commands: ["ping" | "get", string[]][] = [
    ["ping", ["PING"]],
    ["get", ["GET", key]],
  ];
  for (const [cell, args] of commands) {
    await interleaved(sides, round, options.pingWarmup, send(args));
    const samples = await interleaved(sides, round, options.pings, send(args));
    cells[cell].add(samples);
    logPair(log, `${tag} ${args[0]}`, samples);
  }
  const idle = await interleaved(
    sides,
    round,
    options.idleSamples,
    async (side) => {
      await sleepUntil(performance.now() + options.settleMs);
      return await timed(() => side.a.send("PING"));
    },
  );
  cells.idlePing.add(idle);
  logPair(log, `${tag} PING after ${options.settleMs} ms idle`, idle);

  // Each cycle follows a GET in the mutex's slot (its server): the floor.
  // The direct client (the control) cycles the cluster's mutex by name.
  const floors = perClient<number[]>(() => []);
  const cycle = (record: boolean) => async (side: Side) => {
    const mutex = locks.get(side.layout)!.uncontended;
    const floor = await timed(() =>
      side.a.send("GET", `floor:{${mutex.name}}`)
    );
    if (record) floors[side.layout].push(floor);
    return await timed(async () => {
      const lease = await mutex.acquire();
      await lease.release();
    });
  };
  const all = [...sides, direct];
  await interleaved(all, round, options.uncontendedWarmup, cycle(false));
  const unc = await interleaved(
    all,
    round,
    options.uncontendedCycles,
    cycle(true),
  );
  cells.uncontended.add(unc, floors);
  logPair(log, `${tag} uncontended acquire + release`, unc);

  for (const cell of ["handoff", "spread"] as const) {
    const started = performance.now();
    const { samples, floors, capped } = await handoffRound(
      ctx,
      round,
      sides,
      (side) => locks.get(side.layout)![cell],
      cell === "spread",
    );
    cells[cell].add(samples, floors);
    cells[cell].capped ||= capped;
    logPair(
      log,
      `${tag} hand-off over ${
        cell === "spread" ? options.spreadNames : 1
      } name(s), ${((performance.now() - started) / 1_000).toFixed(1)} s`,
      samples,
    );
  }
}

async function serverVersion(redis: RedisClient): Promise<string> {
  const info = String(await redis.send("INFO", "server"));
  return /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? "unknown";
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
    result.skipped = `the cluster did not start: ${
      error instanceof Error ? error.message.split("\n")[0] : String(error)
    }`;
    log(`skipped: ${result.skipped}`);
    result.seconds = (performance.now() - started) / 1_000;
    return result;
  }
  result.startSeconds = (performance.now() - started) / 1_000;
  log(`cluster started in ${result.startSeconds.toFixed(1)} s: ${cluster.url}`);
  const clients: RedisClient[] = [];
  const open = async (target: string) => {
    const client = await connect(target);
    clients.push(client);
    return client;
  };
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
    const cells: Cells = {
      ping: new Samples(),
      get: new Samples(),
      idlePing: new Samples(),
      uncontended: new Samples(),
      handoff: new Samples(),
      spread: new Samples(),
    };
    for (let round = 0; round < options.rounds; round++) {
      await oneRound(ctx, round, sides, direct, locks, cells);
    }
    result.ping = cells.ping.cell();
    result.get = cells.get.cell();
    result.idlePing = cells.idlePing.cell();
    result.uncontended = cells.uncontended.cell();
    result.handoff = cells.handoff.cell();
    result.spread = cells.spread.cell();
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
    await Promise.allSettled(clients.map((c) => c.close()));
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
