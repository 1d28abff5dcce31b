/**
 * The options of `connect()`: parsed (each topology's URL form), validated
 * and defaulted, before any network call. The fields of one server
 * (`hostname`, `port`), of Sentinel (`sentinel`) and of a cluster
 * (`cluster`) are each topology's own (the `options.ts` of each folder of
 * `src/topologies/`); every other field is shared (`src/client/options.ts`).
 *
 * @module
 */
import {
  type ClientSettings,
  resolveClientSettings,
  type ResolvedOptions,
} from "../client/options.ts";
import { fixedTarget } from "../client/target.ts";
import {
  parseUrl,
  resolveAddress,
  singleDisplay,
} from "../topologies/single/options.ts";
import {
  parseSentinelUrl,
  type ResolvedSentinel,
  resolveSentinel,
  sentinelDisplay,
  type SentinelOptions,
} from "../topologies/sentinel/options.ts";
import {
  CLUSTER_LIMITS,
  clusterDisplay,
  type ClusterOptions,
  parseClusterUrl,
  resolveCluster,
  type ResolvedCluster,
} from "../topologies/cluster/options.ts";

/** How to reach and talk to one Redis server. */
export interface ConnectOptions extends ClientSettings {
  /**
   * `redis://[user[:password]@]host[:port][/db]` or `rediss://...` for TLS;
   * the database may be given as `?db=N` instead of the path. Fields given
   * beside it override the URL's.
   * @default {undefined}
   */
  url?: string;
  /**
   * Host name or IP address.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * TCP port.
   * @default {6379}
   */
  port?: number;
  /**
   * Follow the primary of a master monitored by Redis Sentinel instead of a
   * fixed address: the sentinels are asked for it at every (re)connect.
   * The URL form `redis+sentinel://h1:26379,h2:26379/mymaster` sets it too.
   * `username`/`password` remain those of the data nodes.
   * @default {undefined}
   */
  sentinel?: SentinelOptions;
  /**
   * Talk to a Redis Cluster: seed nodes, from which the client learns the
   * slot map and follows it (redirects, resharding, failovers). The URL form
   * `redis+cluster://h1:7000,h2:7001` sets it too.
   * @default {undefined}
   */
  cluster?: ClusterOptions;
}

/** {@linkcode ConnectOptions} resolved: the shared settings, and the topology's own. */
export interface ResolvedConnect {
  /** What every topology reads, with the target and display of the one chosen. */
  options: ResolvedOptions;
  /** Sentinel settings, when the client follows a monitored master. */
  sentinel: ResolvedSentinel | undefined;
  /** Cluster settings, when the client talks to a Redis Cluster. */
  cluster: ResolvedCluster | undefined;
}

/**
 * Parses a URL or an options object, validates every field and applies the
 * defaults. Throws `TypeError`/`RangeError` naming the bad field.
 */
export function resolveConnectOptions(
  input: string | ConnectOptions | undefined,
): ResolvedConnect {
  const given: ConnectOptions = typeof input === "string"
    ? { url: input }
    : input ?? {};
  if (typeof given !== "object") {
    throw new TypeError(
      `Cannot connect as the argument must be a URL string or an options object: current type is ${typeof given}`,
    );
  }
  const fromUrl = given.url === undefined
    ? {}
    : /^redis\+sentinel:\/\//i.test(given.url)
    ? parseSentinelUrl(given.url)
    : /^rediss?\+cluster:\/\//i.test(given.url)
    ? parseClusterUrl(given.url)
    : parseUrl(given.url);
  const merged: ConnectOptions = { ...fromUrl, ...stripUndefined(given) };
  const sentinel = merged.sentinel === undefined
    ? undefined
    : resolveSentinel(merged.sentinel);
  const cluster = merged.cluster === undefined
    ? undefined
    : resolveCluster(merged.cluster);
  if (cluster && sentinel) {
    throw new TypeError(
      "Cannot connect as 'cluster' and 'sentinel' exclude each other: give one",
    );
  }
  // Checked whatever the topology: a bad address is refused with any.
  const address = resolveAddress(merged.hostname, merged.port);
  const settings = resolveClientSettings(
    merged,
    cluster ? CLUSTER_LIMITS : undefined,
  );
  const tls = merged.tls ?? false;
  return {
    options: {
      ...settings,
      target: fixedTarget(address),
      display: sentinel
        ? sentinelDisplay(sentinel, settings.db)
        : cluster
        ? clusterDisplay(cluster, tls !== false)
        : singleDisplay(address, Boolean(tls), settings.db),
    },
    sentinel,
    cluster,
  };
}

function stripUndefined(options: ConnectOptions): ConnectOptions {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && key !== "url") out[key] = value;
  }
  return out as ConnectOptions;
}
