/**
 * The options of `connect()`: parsed (each topology's URL form), validated
 * and defaulted, before any network call. The fields of one server
 * (`hostname`, `port`), of Sentinel (`sentinel`) and of a cluster
 * (`cluster`) are each topology's own (the `options.ts` of each folder of
 * `src/topologies/`); every other field is shared (`src/client/options.ts`).
 *
 * @module
 */
import type { Connector, TlsOptions } from "../transport/types.ts";
import {
  type ReconnectOptions,
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
export interface ConnectOptions {
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
   * ACL user name; with a password only, the `default` user.
   * @default {undefined}
   */
  username?: string;
  /**
   * Password (`requirepass` or the ACL user's). Never logged nor put in errors.
   * @default {undefined}
   */
  password?: string;
  /**
   * Database number selected after connecting.
   * @default {0}
   */
  db?: number;
  /**
   * Name shown by `CLIENT LIST` (`CLIENT SETNAME`).
   * @default {undefined}
   */
  clientName?: string;
  /**
   * TLS: `true` for the system's trust store, or settings such as a CA.
   * A `rediss://` URL implies `true`.
   * @default {false}
   */
  tls?: boolean | TlsOptions;
  /**
   * Protocol version: `3` needs Redis 6+, `2` always works, `"auto"` tries 3
   * and falls back to 2.
   * @default {"auto"}
   */
  protocol?: 2 | 3 | "auto";
  /**
   * Time to open a connection and finish its handshake, in milliseconds.
   * @default {10000}
   */
  connectTimeoutMs?: number;
  /**
   * Time a command may wait for its reply (and for a reconnect before it is
   * sent), in milliseconds. A command that times out resets its connection,
   * since the replies behind it can no longer be trusted. Blocking commands
   * are exempt: they end by their own timeout or an `AbortSignal`.
   * @default {10000}
   */
  commandTimeoutMs?: number;
  /**
   * Reconnection after a dropped connection, or `false` to stay closed.
   * @default {{ minDelayMs: 50, maxDelayMs: 2000 }}
   */
  reconnect?: ReconnectOptions | false;
  /**
   * Most connections kept for blocking commands (`BLPOP`, `WAIT`, ...);
   * further blocking commands wait for one to be free.
   * @default {16}
   */
  maxBlockingConnections?: number;
  /**
   * Longest bulk string (or verbatim string, bulk error) a reply may carry,
   * in bytes, like Redis's own `proto-max-bulk-len`. A longer one fails its
   * connection with a `ConnectionError` (caused by a `RespProtocolError`)
   * as soon as its length header arrives; the client then reconnects. The
   * memory for a bulk string is taken as its bytes arrive, never ahead.
   * @default {536870912}
   */
  maxBulkBytes?: number;
  /**
   * Most elements one array, map (in pairs), set or push message of a reply
   * may announce; past it, the connection fails as for `maxBulkBytes`. Maps
   * and sets are held to 2^24 entries whatever this says (a JavaScript engine
   * limit). Other limits are fixed: 64 KiB for a simple string, error, double
   * or big number, 40 bytes for an integer, nesting 1000 levels deep.
   * @default {16777216}
   */
  maxAggregateLength?: number;
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
  /**
   * Connect in the background: `connect()` resolves at once, whether or
   * not the server is up, with a client that connects and keeps trying
   * with the `reconnect` backoff until it succeeds or is closed. Until its
   * first connection, a command waits only for an attempt under way (within
   * `commandTimeoutMs`); otherwise it rejects at once with
   * `ConnectionError`. Once connected, it is an ordinary client. For a
   * `Redlock`, whose servers need not all be up: a server not connected yet
   * counts as unreachable (an attempt under way is waited for within
   * `nodeTimeoutMs`). Needs `reconnect`; not with `cluster`, whose client
   * already connects when one seed answers.
   * @default {false}
   */
  lazy?: boolean;
  /**
   * Socket implementation; the current runtime's by default.
   * @default {defaultConnector()}
   */
  connector?: Connector;
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
