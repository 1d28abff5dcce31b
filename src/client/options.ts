/**
 * Connection options: the one place that parses URLs, validates settings and
 * applies defaults.
 *
 * @module
 */
import type { Connector, TlsOptions } from "../transport/types.ts";
import { checkInteger } from "../_internal/validate.ts";
import {
  parseSentinelUrl,
  type ResolvedSentinel,
  resolveSentinel,
  sentinelDisplay,
  type SentinelOptions,
} from "./sentinel_options.ts";
import {
  clusterDisplay,
  type ClusterOptions,
  parseClusterUrl,
  resolveCluster,
  type ResolvedCluster,
} from "../cluster/options.ts";
import { fixedTarget, type TargetResolver } from "./target.ts";
import { parseUrl } from "./url.ts";

/** Reconnection after a dropped connection: exponential backoff with jitter. */
export interface ReconnectOptions {
  /**
   * First delay before a reconnect attempt, in milliseconds.
   * @default {50}
   */
  minDelayMs?: number;
  /**
   * Largest delay between attempts, in milliseconds.
   * @default {2000}
   */
  maxDelayMs?: number;
}

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

/** Options after parsing and defaults: every field set. */
export interface ResolvedOptions {
  hostname: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
  db: number;
  clientName: string | undefined;
  tls: TlsOptions | undefined;
  protocol: 2 | 3 | "auto";
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  reconnect: Required<ReconnectOptions> | false;
  maxBlockingConnections: number;
  maxBulkBytes: number;
  maxAggregateLength: number;
  /** Connect in the background (`connect()` resolves at once). */
  lazy: boolean;
  connector: Connector | undefined;
  /** Sentinel settings, when the client follows a monitored master. */
  sentinel: ResolvedSentinel | undefined;
  /** Cluster settings, when the client talks to a Redis Cluster. */
  cluster: ResolvedCluster | undefined;
  /** Where each new connection goes (set by the client for Sentinel). */
  target: TargetResolver;
  /** `redis://host:port/db` with no credentials, for messages. */
  display: string;
}

/**
 * Parses a URL or an options object, validates every field and applies the
 * defaults. Throws `TypeError`/`RangeError` naming the bad field.
 */
export function resolveOptions(
  input: string | ConnectOptions | undefined,
): ResolvedOptions {
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
  const {
    hostname = "127.0.0.1",
    port = 6379,
    username,
    password,
    db = 0,
    clientName,
    tls = false,
    protocol = "auto",
    connectTimeoutMs = 10_000,
    commandTimeoutMs = 10_000,
    reconnect = {},
    maxBlockingConnections = 16,
    maxBulkBytes = 512 * 1024 * 1024,
    maxAggregateLength = 2 ** 24,
    lazy = false,
    connector,
    sentinel: sentinelGiven,
    cluster: clusterGiven,
  } = merged;
  const sentinel = sentinelGiven === undefined
    ? undefined
    : resolveSentinel(sentinelGiven);
  const cluster = clusterGiven === undefined
    ? undefined
    : resolveCluster(clusterGiven);
  if (cluster && sentinel) {
    throw new TypeError(
      "Cannot connect as 'cluster' and 'sentinel' exclude each other: give one",
    );
  }
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(
      `Cannot connect as 'hostname' must be a non-empty string: current value is ${
        JSON.stringify(hostname)
      }`,
    );
  }
  checkInteger("connect", "port", port, 1, 65535);
  checkInteger("connect", "db", db, 0, cluster ? 0 : 1_000_000);
  checkInteger("connect", "connectTimeoutMs", connectTimeoutMs, 1, 2 ** 31 - 1);
  checkInteger("connect", "commandTimeoutMs", commandTimeoutMs, 1, 2 ** 31 - 1);
  checkInteger(
    "connect",
    "maxBlockingConnections",
    maxBlockingConnections,
    1,
    10_000,
  );
  checkInteger("connect", "maxBulkBytes", maxBulkBytes, 1, 2 ** 32 - 1);
  checkInteger(
    "connect",
    "maxAggregateLength",
    maxAggregateLength,
    1,
    2 ** 32 - 1,
  );
  if (protocol !== 2 && protocol !== 3 && protocol !== "auto") {
    throw new TypeError(
      `Cannot connect as 'protocol' must be 2, 3 or "auto": current value is ${
        JSON.stringify(protocol)
      }`,
    );
  }
  for (
    const [field, value] of [["username", username], ["password", password], [
      "clientName",
      clientName,
    ]]
  ) {
    if (value !== undefined && typeof value !== "string") {
      throw new TypeError(
        `Cannot connect as '${field}' must be a string: current type is ${typeof value}`,
      );
    }
  }
  if (clientName !== undefined && /\s/.test(clientName)) {
    throw new TypeError(
      `Cannot connect as 'clientName' must not contain spaces: current value is ${
        JSON.stringify(clientName)
      }`,
    );
  }
  checkLazy(lazy, reconnect, cluster !== undefined);
  let resolvedReconnect: Required<ReconnectOptions> | false = false;
  if (reconnect !== false) {
    const { minDelayMs = 50, maxDelayMs = 2000 } = reconnect;
    checkInteger("connect", "reconnect.minDelayMs", minDelayMs, 1, 2 ** 31 - 1);
    checkInteger(
      "connect",
      "reconnect.maxDelayMs",
      maxDelayMs,
      minDelayMs,
      2 ** 31 - 1,
    );
    resolvedReconnect = { minDelayMs, maxDelayMs };
  }
  const scheme = tls ? "rediss" : "redis";
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    hostname,
    port,
    username,
    password,
    db,
    clientName,
    tls: tls === true ? {} : tls === false ? undefined : tls,
    protocol,
    connectTimeoutMs,
    commandTimeoutMs,
    reconnect: resolvedReconnect,
    maxBlockingConnections,
    maxBulkBytes,
    maxAggregateLength,
    lazy,
    connector,
    sentinel,
    cluster,
    target: fixedTarget({ hostname, port }),
    display: sentinel
      ? sentinelDisplay(sentinel, db)
      : cluster
      ? clusterDisplay(cluster, tls !== false)
      : `${scheme}://${host}:${port}${db ? `/${db}` : ""}`,
  };
}

/** `lazy`: a boolean, and only where the client can connect later. */
function checkLazy(lazy: unknown, reconnect: unknown, cluster: boolean): void {
  if (typeof lazy !== "boolean") {
    throw new TypeError(
      `Cannot connect as 'lazy' must be a boolean: current type is ${typeof lazy}`,
    );
  }
  if (lazy && reconnect === false) {
    throw new TypeError(
      "Cannot connect as 'lazy' needs reconnects to connect in the background: remove 'reconnect: false' or 'lazy'",
    );
  }
  if (lazy && cluster) {
    throw new TypeError(
      "Cannot connect as 'lazy' is not available with 'cluster': a cluster client connects when one seed answers, and connects later to primaries down at first",
    );
  }
}

function stripUndefined(options: ConnectOptions): ConnectOptions {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && key !== "url") out[key] = value;
  }
  return out as ConnectOptions;
}
