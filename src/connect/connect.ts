/**
 * `connect()`: the one way to make a client. It resolves the options,
 * chooses the topology they ask for (one server, Sentinel's primary, a
 * Redis Cluster) and hands it to `RedisClient`, which knows only the
 * `Topology` contract.
 *
 * @module
 */
import { openClient, type RedisClient } from "../client/client.ts";
import type { TopologyFactory } from "../client/topology.ts";
import { ClusterTopology } from "../topologies/cluster/cluster_topology.ts";
import { SentinelTopology } from "../topologies/sentinel/sentinel_topology.ts";
import { SingleTopology } from "../topologies/single/single_topology.ts";
import { defaultUrl } from "./env.ts";
import {
  type ConnectOptions,
  resolveConnectOptions,
  type ResolvedConnect,
} from "./options.ts";

/**
 * Opens a client: connects, then speaks RESP3 where the server has it
 * (`HELLO 3`), RESP2 otherwise, authenticates, and selects the database.
 * Rejects with `ConnectionError` within `connectTimeoutMs` when the server
 * cannot be reached or refuses the credentials, and with `TypeError` or
 * `RangeError` for bad options (before any network call). Passwords never
 * appear in errors. With `lazy: true` it resolves at once, and the client
 * connects in the background (see `ConnectOptions.lazy`). With no argument
 * (or `undefined`), the URL is `REDIS_URL` where the runtime has an
 * environment (on Deno, with env permission), else `redis://127.0.0.1:6379`.
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * await using redis = await connect("redis://127.0.0.1:6379");
 * await redis.send("SET", "greeting", "hello");
 * console.log(await redis.send("GET", "greeting")); // "hello"
 * ```
 *
 * @example With options (ACL user, TLS with a private CA)
 * ```ts
 * import { connect } from "@redsync/core";
 * await using redis = await connect({
 *   url: "rediss://redis.internal:6380/2",
 *   username: "app",
 *   password: Deno.env.get("REDIS_PASSWORD"),
 *   tls: { ca: await Deno.readTextFile("ca.pem") },
 *   commandTimeoutMs: 2_000,
 * });
 * ```
 *
 * @example Lazy: a client now, connected once its server is up
 * ```ts
 * import { connect, ConnectionError } from "@redsync/core";
 * await using redis = await connect({
 *   url: "redis://127.0.0.1:6379",
 *   lazy: true, // no error if the server is down now
 * });
 * try {
 *   console.log(await redis.send("PING")); // "PONG" once connected
 * } catch (error) {
 *   // Not connected yet: fails at once, never waits through the backoff.
 *   if (!(error instanceof ConnectionError)) throw error;
 * }
 * ```
 */
export function connect(
  urlOrOptions?: string | ConnectOptions,
): Promise<RedisClient> {
  let resolved: ResolvedConnect;
  try {
    resolved = resolveConnectOptions(urlOrOptions ?? defaultUrl());
  } catch (error) {
    return Promise.reject(error);
  }
  return openClient(resolved.options, topologyOf(resolved));
}

/** The topology the options ask for: a cluster, Sentinel's primary, or one server. */
function topologyOf(
  { options, sentinel, cluster }: ResolvedConnect,
): TopologyFactory {
  if (cluster) {
    return (onGiveUp) => new ClusterTopology(options, cluster, onGiveUp);
  }
  if (sentinel) {
    return (onGiveUp) => new SentinelTopology(options, sentinel, onGiveUp);
  }
  return (onGiveUp) => new SingleTopology(options, onGiveUp);
}
