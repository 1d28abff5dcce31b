/**
 * The `cluster` connect option and the `redis+cluster://` URL form,
 * validated before any network call (`TypeError`/`RangeError`), and what a
 * cluster does not allow of the shared settings.
 *
 * @module
 */
import { checkInteger } from "../../_internal/validate.ts";
import type { SettingLimits } from "../../client/options.ts";
import type { Target } from "../../client/target.ts";

/**
 * A node's address, as the cluster announces it or as `natMap` turns it.
 *
 * @example
 * ```ts
 * import { connect, type NodeAddress } from "@redsync/core";
 * // Announced as 10.0.0.x:6379, reached through a forwarded port each.
 * const natMap = ({ hostname, port }: NodeAddress): NodeAddress => ({
 *   hostname: "127.0.0.1",
 *   port: 7000 + Number(hostname.split(".")[3]),
 * });
 * await using redis = await connect({ cluster: { nodes: ["127.0.0.1:7001"], natMap } });
 * ```
 */
export interface NodeAddress {
  /** Host name or IP address. */
  hostname: string;
  /** TCP port. */
  port: number;
}

/**
 * A Redis Cluster to follow: a few seed nodes (the client learns the rest),
 * the `cluster` option of `connect()`.
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * await using redis = await connect({
 *   cluster: { nodes: ["10.0.0.1:7000", "10.0.0.2:7001"] },
 *   password: Deno.env.get("REDIS_PASSWORD"),
 * });
 * // or: await connect("redis+cluster://10.0.0.1:7000,10.0.0.2:7001")
 * ```
 */
export interface ClusterOptions {
  /**
   * Seed nodes: `"host:port"` strings or `redis://host:port` URLs (port
   * 6379 when absent). Asked in turn for the slot map.
   */
  nodes: string[];
  /**
   * Address translation, for clusters that announce addresses the client
   * cannot reach (NAT, containers): a map from `"host:port"` as announced
   * to `"host:port"` to use, or a function.
   * @default {undefined}
   */
  natMap?: Record<string, string> | ((address: NodeAddress) => NodeAddress);
  /**
   * How often the slot map is refreshed when nothing asked for it
   * (redirects, lost connections and failovers refresh it at once), in
   * milliseconds.
   * @default {5000}
   */
  refreshIntervalMs?: number;
  /**
   * Most `MOVED`/`ASK`/`TRYAGAIN`/`CLUSTERDOWN` answers one command
   * follows before it fails with a `ConnectionError`.
   * @default {16}
   */
  maxRedirects?: number;
}

/**
 * What a cluster does not allow of the settings every topology shares:
 * a database other than 0, `lazy`.
 */
export const CLUSTER_LIMITS: SettingLimits = {
  maxDb: 0,
  lazyRefused:
    "Cannot connect as 'lazy' is not available with 'cluster': a cluster client connects when one seed answers, and connects later to primaries down at first",
};

/** {@linkcode ClusterOptions} validated. */
export interface ResolvedCluster {
  seeds: Target[];
  natMap: ((address: Target) => Target) | undefined;
  refreshIntervalMs: number;
  maxRedirects: number;
}

/** Parses `host:port` (or `redis://host:port`, `[v6]:port`). */
export function parseNodeAddress(
  text: string,
  what: string,
  defaultPort: number,
): Target {
  const bare = text.replace(/^rediss?:\/\//i, "").replace(/\/.*$/, "")
    .replace(/^.*@/, "");
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(bare);
  if (!match) {
    throw new TypeError(
      `Cannot connect as a ${what} address must be "host:port": current value is ${
        JSON.stringify(bare)
      }`,
    );
  }
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(
      `Cannot connect as a ${what} port must be in 1..65535: current value is ${port}`,
    );
  }
  return { hostname: match[1].replace(/^\[(.*)\]$/, "$1"), port };
}

/** Validates `cluster` options (TypeError/RangeError before any call). */
export function resolveCluster(given: ClusterOptions): ResolvedCluster {
  if (typeof given !== "object" || given === null) {
    throw new TypeError(
      `Cannot connect as 'cluster' must be an object with 'nodes': current value is ${
        String(given)
      }`,
    );
  }
  const {
    nodes,
    natMap,
    refreshIntervalMs = 5_000,
    maxRedirects = 16,
  } = given;
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw new TypeError(
      "Cannot connect as 'cluster.nodes' must be a non-empty array of \"host:port\"",
    );
  }
  checkInteger(
    "connect",
    "cluster.refreshIntervalMs",
    refreshIntervalMs,
    100,
    2 ** 31 - 1,
  );
  checkInteger("connect", "cluster.maxRedirects", maxRedirects, 1, 1_000);
  return {
    seeds: nodes.map((node) => parseNodeAddress(String(node), "cluster", 6379)),
    natMap: resolveNatMap(natMap),
    refreshIntervalMs,
    maxRedirects,
  };
}

function resolveNatMap(
  natMap: ClusterOptions["natMap"],
): ((address: Target) => Target) | undefined {
  if (natMap === undefined) return undefined;
  if (typeof natMap === "function") return natMap;
  if (typeof natMap !== "object" || natMap === null) {
    throw new TypeError(
      `Cannot connect as 'cluster.natMap' must be an object or a function: current type is ${typeof natMap}`,
    );
  }
  const table = new Map<string, Target>();
  for (const [from, to] of Object.entries(natMap)) {
    const key = parseNodeAddress(from, "natMap", 6379);
    table.set(
      `${key.hostname}:${key.port}`,
      parseNodeAddress(String(to), "natMap", 6379),
    );
  }
  return (address) =>
    table.get(`${address.hostname}:${address.port}`) ?? address;
}

/**
 * Parses `redis+cluster://[user:password@]h1:7000,h2:7001` (and
 * `rediss+cluster://` for TLS). Never echoes the password.
 */
export function parseClusterUrl(url: string): {
  cluster: ClusterOptions;
  username?: string;
  password?: string;
  tls?: boolean;
} {
  const tls = /^rediss\+/i.test(url);
  const rest = url.replace(/^rediss?\+cluster:\/\//i, "");
  const at = rest.lastIndexOf("@");
  const userinfo = at === -1 ? "" : rest.slice(0, at);
  const hosts = rest.slice(at + 1).replace(/\/$/, "");
  if (!hosts || hosts.includes("/")) {
    throw new TypeError(
      "Cannot connect as a cluster URL must read redis+cluster://host:port[,host:port...] (a cluster has only database 0)",
    );
  }
  const out: ReturnType<typeof parseClusterUrl> = {
    cluster: { nodes: hosts.split(",") },
  };
  if (userinfo) {
    const colon = userinfo.indexOf(":");
    const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
    if (user) out.username = decodeURIComponent(user);
    if (colon !== -1) {
      out.password = decodeURIComponent(userinfo.slice(colon + 1));
    }
  }
  if (tls) out.tls = true;
  return out;
}

/** How a cluster client is shown in messages (no credentials). */
export function clusterDisplay(cluster: ResolvedCluster, tls: boolean): string {
  const hosts = cluster.seeds.map(({ hostname, port }) =>
    `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`
  ).join(",");
  return `${tls ? "rediss" : "redis"}+cluster://${hosts}`;
}
