/**
 * Reading the slot map: `CLUSTER SHARDS` (Redis 7), or `CLUSTER SLOTS`
 * where a node answers that it has no `CLUSTER SHARDS` (older servers, or
 * denied by ACL: remembered per node address, so it is asked once), asked
 * of the nodes the client is connected to, then of the seed nodes on
 * connections of their own, until one answers.
 *
 * @module
 */
import { abortable } from "../../_internal/async.ts";
import { ConnectionError, RedisReplyError } from "../../errors.ts";
import type { RedisArg, RedisReply } from "../../resp/types.ts";
import { lacksCommand } from "../../client/commands.ts";
import { Connection } from "../../client/connection.ts";
import type { ResolvedOptions } from "../../client/options.ts";
import { fixedTarget, type Target } from "../../client/target.ts";
import type { ResolvedCluster } from "./options.ts";
import { addressOf } from "./redirect.ts";
import {
  parseClusterShards,
  parseClusterSlots,
  type SlotMap,
} from "./slot_map.ts";

/** The slot map as the client uses it. */
export interface Layout {
  /** Per slot, an index into `primaries`, or -1. */
  owners: Int16Array;
  /** The primaries, as announced (before `natMap`). */
  primaries: Target[];
}

/** A node the map can be asked of. */
export interface LayoutSource {
  target: Target;
  send(args: readonly RedisArg[]): Promise<RedisReply>;
}

/** The server is not in cluster mode: asking again will not help. */
class NotClusterError extends ConnectionError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

/**
 * Per client (its resolved `cluster` option): the addresses of the nodes
 * found without `CLUSTER SHARDS`, asked `CLUSTER SLOTS` from then on.
 */
const NO_SHARDS = new WeakMap<ResolvedCluster, Set<string>>();

/** Asks one node for the map; `noShards`: nodes without `CLUSTER SHARDS`. */
async function ask(
  source: LayoutSource,
  tls: boolean,
  noShards: Set<string>,
): Promise<SlotMap> {
  const host = source.target.hostname;
  const address = addressOf(source.target);
  try {
    if (!noShards.has(address)) {
      try {
        const reply = await source.send(["CLUSTER", "SHARDS"]);
        return parseClusterShards(reply, host, { tls });
      } catch (error) {
        if (!lacksCommand(error)) throw error;
        // Before Redis 7.0 (or denied by ACL).
        noShards.add(address);
      }
    }
    return parseClusterSlots(await source.send(["CLUSTER", "SLOTS"]), host);
  } catch (error) {
    if (
      error instanceof RedisReplyError &&
      /cluster support disabled/i.test(error.message)
    ) {
      throw new NotClusterError(
        `${address} is not in cluster mode (${error.message})`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * The slot map, from the first of `sources`, then the seeds, that answers
 * within `signal`. Rejects with `ConnectionError` naming the last failure.
 */
export async function readLayout(
  options: ResolvedOptions,
  cluster: ResolvedCluster,
  sources: LayoutSource[],
  signal: AbortSignal,
): Promise<Layout> {
  let noShards = NO_SHARDS.get(cluster);
  if (!noShards) NO_SHARDS.set(cluster, noShards = new Set());
  let lastError: unknown;
  const seeds = cluster.seeds.map((seed) => cluster.natMap?.(seed) ?? seed);
  const all: (LayoutSource | Target)[] = [...sources, ...seeds];
  for (const source of all) {
    if (signal.aborted) break;
    try {
      const map = "send" in source
        ? await abortable(
          ask(source, options.tls !== undefined, noShards),
          signal,
        )
        : await askSeed(options, source, signal, noShards);
      if (map.primaries.length === 0) {
        throw new ConnectionError(
          `${
            addressOf("send" in source ? source.target : source)
          } knows of no slot served yet`,
        );
      }
      return {
        owners: map.owners,
        primaries: map.primaries.map(({ host, port }) => ({
          hostname: host,
          port,
        })),
      };
    } catch (error) {
      if (error instanceof NotClusterError) throw error;
      lastError = error;
    }
  }
  throw new ConnectionError(
    `Cannot read the slot map of ${options.display}: ${
      signal.aborted && !lastError
        ? `no node answered within ${options.connectTimeoutMs} ms`
        : (lastError as Error)?.message ?? "no node answered"
    }`,
    { cause: lastError },
  );
}

async function askSeed(
  options: ResolvedOptions,
  seed: Target,
  signal: AbortSignal,
  noShards: Set<string>,
): Promise<SlotMap> {
  const connection = await Connection.open(
    {
      ...options,
      target: fixedTarget(seed),
      display: `${options.tls ? "rediss" : "redis"}://${addressOf(seed)}`,
    },
    {},
    signal,
  );
  try {
    return await abortable(
      ask(
        { target: seed, send: (args) => connection.request(args) },
        options.tls !== undefined,
        noShards,
      ),
      signal,
    );
  } finally {
    connection.close();
  }
}
