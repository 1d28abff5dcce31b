/**
 * The rounds of the cluster cell: in each, the floors, the uncontended
 * cycle (with its control) and the two hand-off measurements, on the
 * single-node client and the cluster client interleaved sample by sample.
 *
 * @module
 */
import { Mutex, type RedisClient } from "../../../mod.ts";
import type { ClusterTopology } from "../../../harness/cluster.ts";
import {
  type HandoffRound,
  handoffRound,
  HandoffRun,
  makePair,
  type Pair,
} from "../../shared/ab/handoff.ts";
import * as ab from "../../shared/ab/sampler.ts";
import { Oracle } from "../../shared/oracle.ts";
import { timedCycle } from "../../shared/probes.ts";
import { timed } from "../../shared/timing.ts";
import {
  type Client,
  type ClusterBenchOptions,
  type Layout,
  LAYOUTS,
} from "./types.ts";

/** One client under test, with a second one for the hand-offs. */
export interface Side {
  layout: Client;
  /** Holds the uncontended mutex and one side of each hand-off. */
  a: RedisClient;
  /** The other side of each hand-off. */
  b: RedisClient;
  /** ZCARD of the queues; not used by the locks. */
  observer: RedisClient;
}

export interface Context {
  options: ClusterBenchOptions;
  runId: string;
  log(line: string): void;
  cluster: ClusterTopology;
  /** Lock names, for cleaning `redsync:contended` on the single node. */
  names: Set<string>;
  shardChannels: number[];
}

/** The three clients, sampled in turn. */
export const SAMPLER = new ab.Interleave(
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
export interface Locks {
  uncontended: Mutex;
  handoff: Pair[];
  spread: Pair[];
}

export function makePairs(
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

export const CELLS = [
  "ping",
  "get",
  "idlePing",
  "uncontended",
  "handoff",
  "spread",
] as const;
type Cells = Record<(typeof CELLS)[number], ab.Samples<Layout, "direct">>;

export async function oneRound(
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
    step: (side) => timed(() => side.a.send("GET", key)),
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
      const floor = await timed(() =>
        side.a.send("GET", `floor:{${mutex.name}}`)
      );
      if (record) floors[side.layout].push(floor);
      return await timedCycle(() => mutex.acquire());
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
