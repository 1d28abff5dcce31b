/**
 * The options of a `Redlock` and its servers, validated and defaulted in
 * one place: every check throws `TypeError`/`RangeError` before any Redis
 * call.
 *
 * @module
 */
import { RedisClient } from "../client/client.ts";
import type { LockLostError } from "../errors.ts";
import {
  checkInteger,
  checkNumber,
  checkOptionalObjects,
  checkOptionsObject,
} from "../_internal/validate.ts";
import { DEFAULT_PREFIX, MAX_NAME_LENGTH } from "../locks/keys.ts";
import type { LockLogger, LockMetrics } from "../observe.ts";

/** Options of a {@linkcode Redlock}. */
export interface RedlockOptions {
  /**
   * Lease length in milliseconds: what each server is asked to hold the
   * lock for. The lease is valid locally for less: `leaseMs` minus the
   * time the round took minus the clock drift allowance (see `driftFactor`).
   * @default {30000}
   */
  leaseMs?: number;
  /**
   * Renew the lease in the background on every server, after about a third
   * of its validity, while a majority answers.
   * @default {true}
   */
  renew?: boolean;
  /**
   * How long one round waits for each server's answer, in ms; a server that
   * has not answered by then counts as not acquired (`"timeout"` or
   * `"unreachable"`). Much shorter than the lease, so that one slow or dead
   * server costs little of the validity. At most `leaseMs / 2`.
   * @default {Math.min(50, Math.floor(leaseMs / 10))}
   */
  nodeTimeoutMs?: number;
  /**
   * Share of `leaseMs` set aside for the servers' clocks running at
   * different rates (the Redlock spec's drift factor), 0..0.5.
   * @default {0.01}
   */
  driftFactor?: number;
  /**
   * Fixed part of the drift allowance, in ms (the spec's "+ 2 ms" for the
   * expiry precision of Redis).
   * @default {2}
   */
  driftMs?: number;
  /**
   * Base delay before the next round after a failed one, in ms.
   * @default {200}
   */
  retryDelayMs?: number;
  /**
   * Share of each retry delay drawn at random, 0..1: the delay is between
   * `(1 - retryJitter)` and 1 times `retryDelayMs`, so that contending
   * processes fall out of step.
   * @default {0.5}
   */
  retryJitter?: number;
  /**
   * Prefix of every Redis key, as for `Mutex`: on each server the lock's
   * keys are those of a `Mutex` of the same name and prefix.
   * @default {"redsync"}
   */
  prefix?: string;
  /**
   * Called once when a lease is lost (besides `lease.signal` aborting with
   * the same error). Exceptions it throws are reported with `reportError`.
   * @default {undefined}
   */
  onLost?: (error: LockLostError) => void;
  /**
   * Console-like logger for the lock's events (`console` works), as for
   * `Mutex`; nothing is logged without one.
   * @default {undefined}
   */
  logger?: LockLogger;
  /**
   * Hook for wait times, hold times, renewal failures and lost leases, as
   * for `Mutex`.
   * @default {undefined}
   */
  metrics?: LockMetrics;
}

/** {@linkcode RedlockOptions} with every default applied. */
export interface ResolvedRedlockOptions {
  leaseMs: number;
  renew: boolean;
  nodeTimeoutMs: number;
  driftFactor: number;
  driftMs: number;
  retryDelayMs: number;
  retryJitter: number;
  prefix: string;
  onLost: ((error: LockLostError) => void) | undefined;
  logger: LockLogger | undefined;
  metrics: LockMetrics | undefined;
}

const ACTION = "create a Redlock";
const MAX_MS = 2 ** 31 - 1;
/** Fewest servers: with fewer, one failure would stop the lock. */
export const MIN_NODES = 3;

/** Validates `options` and applies the defaults. */
export function resolveRedlockOptions(
  options: RedlockOptions = {},
): ResolvedRedlockOptions {
  checkOptionsObject(ACTION, options);
  const {
    leaseMs = 30_000,
    renew = true,
    nodeTimeoutMs = Math.min(50, Math.floor(leaseMs / 10)),
    driftFactor = 0.01,
    driftMs = 2,
    retryDelayMs = 200,
    retryJitter = 0.5,
    prefix = DEFAULT_PREFIX,
    onLost,
    logger,
    metrics,
  } = options;
  checkInteger(ACTION, "leaseMs", leaseMs, 100, MAX_MS);
  checkInteger(
    ACTION,
    "nodeTimeoutMs",
    nodeTimeoutMs,
    1,
    Math.floor(leaseMs / 2),
  );
  checkNumber(ACTION, "driftFactor", driftFactor, 0, 0.5);
  checkInteger(ACTION, "driftMs", driftMs, 0, Math.floor(leaseMs / 2));
  checkInteger(ACTION, "retryDelayMs", retryDelayMs, 1, MAX_MS);
  checkNumber(ACTION, "retryJitter", retryJitter, 0, 1);
  if (typeof renew !== "boolean") {
    throw new TypeError(
      `Cannot ${ACTION} as 'renew' must be a boolean: current value is ${
        String(renew)
      }`,
    );
  }
  if (typeof prefix !== "string" || prefix.length > MAX_NAME_LENGTH) {
    throw new TypeError(
      `Cannot ${ACTION} as 'prefix' must be a string of at most ${MAX_NAME_LENGTH} characters: current value is ${
        String(prefix)
      }`,
    );
  }
  checkOptionalObjects(ACTION, { logger, metrics });
  if (onLost !== undefined && typeof onLost !== "function") {
    throw new TypeError(
      `Cannot ${ACTION} as 'onLost' must be a function: current type is ${typeof onLost}`,
    );
  }
  const resolved = {
    leaseMs,
    renew,
    nodeTimeoutMs,
    driftFactor,
    driftMs,
    retryDelayMs,
    retryJitter,
    prefix,
    onLost,
    logger,
    metrics,
  };
  const validity = leaseMs - driftOf(resolved, leaseMs) - nodeTimeoutMs;
  if (validity <= 0) {
    throw new RangeError(
      `Cannot ${ACTION} as 'leaseMs' must exceed the drift allowance plus 'nodeTimeoutMs': current value is ${leaseMs}`,
    );
  }
  return resolved;
}

/** The drift allowance of a lease: `leaseMs * driftFactor + driftMs`. */
export function driftOf(
  options: Pick<ResolvedRedlockOptions, "driftFactor" | "driftMs">,
  leaseMs: number,
): number {
  return Math.ceil(leaseMs * options.driftFactor) + options.driftMs;
}

/** The server part of a URL: `redis://host:port`, the database left out. */
function serverOf(url: string): string {
  return /^rediss?:\/\//.test(url) ? url.replace(/\/\d+$/, "") : url;
}

/**
 * Validates the clients of a Redlock: an array of at least 3 open
 * `RedisClient`s of distinct servers, none of them a cluster client.
 */
export function checkClients(clients: unknown): RedisClient[] {
  if (!Array.isArray(clients)) {
    throw new TypeError(
      `Cannot ${ACTION} as 'clients' must be an array of RedisClient: current type is ${typeof clients}`,
    );
  }
  if (clients.length < MIN_NODES) {
    throw new RangeError(
      `Cannot ${ACTION} as 'clients' must hold at least ${MIN_NODES} clients of independent servers: current length is ${clients.length}`,
    );
  }
  const seen = new Map<string, number>();
  clients.forEach((client, i) => {
    if (!(client instanceof RedisClient)) {
      throw new TypeError(
        `Cannot ${ACTION} as 'clients[${i}]' must be a RedisClient from connect(): current value is ${
          String(client)
        }`,
      );
    }
    if (client.closed) {
      throw new TypeError(
        `Cannot ${ACTION} as 'clients[${i}]' (${client.url}) is closed`,
      );
    }
    if (/^rediss?\+cluster:/.test(client.url)) {
      throw new TypeError(
        `Cannot ${ACTION} as 'clients[${i}]' is a Redis Cluster client (${client.url}): a Redlock needs one client per independent server`,
      );
    }
    const server = serverOf(client.url);
    const first = seen.get(server);
    if (first !== undefined) {
      throw new TypeError(
        `Cannot ${ACTION} as 'clients[${i}]' reaches the same server as 'clients[${first}]' (${server}): the servers must be independent`,
      );
    }
    seen.set(server, i);
  });
  return [...clients];
}
