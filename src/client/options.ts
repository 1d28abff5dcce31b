/**
 * The settings every topology shares (credentials, database, TLS,
 * protocol, timeouts, reconnects, reply limits, `lazy`, the connector):
 * validated, with their defaults. Where each connection goes (`target`)
 * and how the client is shown (`display`) are the topology's: `connect()`
 * (`src/connect/options.ts`) adds them.
 *
 * @module
 */
import type { Connector, TlsOptions } from "../transport/types.ts";
import { checkInteger } from "../_internal/validate.ts";
import type { TargetResolver } from "./target.ts";

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

/**
 * The settings every topology shares, as given to `connect()` (whose
 * `ConnectOptions` adds where to connect: a URL, one server, Sentinel or a
 * cluster).
 *
 * @example
 * ```ts
 * import { type ClientSettings, connect } from "@redsync/core";
 * const settings: ClientSettings = { clientName: "worker", commandTimeoutMs: 2_000 };
 * await using redis = await connect({ ...settings, url: "redis://127.0.0.1:6379" });
 * ```
 */
export interface ClientSettings {
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

/** What a topology does not allow of the shared settings. */
export interface SettingLimits {
  /**
   * The largest database number (a cluster has only database 0).
   * @default {1000000}
   */
  maxDb?: number;
  /** Why `lazy` is refused, if it is: the `TypeError`'s message. */
  lazyRefused?: string;
}

/** Options after parsing and defaults: every field set. */
export interface ResolvedOptions {
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
  /** Where each new connection goes (a fixed address, or Sentinel's primary). */
  target: TargetResolver;
  /** `redis://host:port/db` with no credentials, for messages. */
  display: string;
}

/**
 * Validates the shared settings and applies their defaults, within the
 * topology's `limits`. Throws `TypeError`/`RangeError` naming the bad field.
 */
export function resolveClientSettings(
  given: ClientSettings,
  limits: SettingLimits = {},
): Omit<ResolvedOptions, "target" | "display"> {
  const {
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
  } = given;
  checkInteger("connect", "db", db, 0, limits.maxDb ?? 1_000_000);
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
  checkLazy(lazy, reconnect, limits.lazyRefused);
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
  return {
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
  };
}

/** `lazy`: a boolean, and only where the client can connect later. */
function checkLazy(
  lazy: unknown,
  reconnect: unknown,
  refused: string | undefined,
): void {
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
  if (lazy && refused !== undefined) throw new TypeError(refused);
}
