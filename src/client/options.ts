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
 * The shared settings as given: the fields of `ConnectOptions` (where each
 * is documented) that every topology reads.
 */
export interface ClientSettings {
  username?: string;
  password?: string;
  db?: number;
  clientName?: string;
  tls?: boolean | TlsOptions;
  protocol?: 2 | 3 | "auto";
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  reconnect?: ReconnectOptions | false;
  maxBlockingConnections?: number;
  maxBulkBytes?: number;
  maxAggregateLength?: number;
  lazy?: boolean;
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
