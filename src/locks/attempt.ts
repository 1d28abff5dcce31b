/**
 * One `ACQUIRE` of the lock engine: the script's arguments from the
 * primitive's settings, and its reply as a `Grant` or a `Waiting`.
 *
 * @module
 */
import { SemaphoreMismatchError } from "../errors.ts";
import type { RedisClient } from "../client/client.ts";
import type { Observer } from "../observe.ts";
import type { ResolvedLockOptions } from "./options.ts";
import type { LockKeys, StoredLockKind } from "./keys.ts";
import { ACQUIRE } from "./scripts.ts";
import type { Grant, Waiting } from "./wait.ts";

/** What an engine is built from. */
export interface EngineConfig {
  client: RedisClient;
  name: string;
  /** Permit count (1 for a mutex). */
  limit: number;
  /** Semaphores keep their count in Redis (`meta`); a mutex does not. */
  keepMeta: boolean;
  /**
   * The kind `meta` records with the count when `ACQUIRE` writes it (it
   * was deleted, or expired while idle).
   * @default {"semaphore"}
   */
  kind?: StoredLockKind;
  /** TTL of `meta` when idle, ms. */
  idleTtlMs: number;
  options: ResolvedLockOptions;
  /** Where events, logs and metrics go. */
  observer: Observer;
}

/**
 * Runs `ACQUIRE` once for waiter `id`: granted, or waiting (queued, or
 * not in "try" mode). `fresh`: the first call for this id (it cannot hold
 * or queue yet: the script skips its look-ups). `meta`: stored with the
 * grant or the queue entry ("" for none). Rejects with
 * `SemaphoreMismatchError` when the stored count differs.
 */
export async function runAcquire(
  config: EngineConfig,
  keys: LockKeys,
  id: string,
  weight: number,
  mode: "wait" | "try" | "poll",
  signal: AbortSignal,
  fresh: boolean,
  meta = "",
): Promise<Grant | Waiting> {
  const { options, limit, keepMeta, idleTtlMs, kind = "semaphore" } = config;
  const sentAt = performance.now();
  const reply = await ACQUIRE.run(config.client, keys.scriptBytes, [
    id,
    limit,
    weight,
    options.leaseMs,
    mode,
    options.waiterTtlMs,
    idleTtlMs,
    keys.wakePrefix,
    keepMeta ? kind : "0",
    fresh ? "1" : "0",
    meta,
  ], { signal });
  if (typeof reply === "number") {
    // Granted now, for the whole lease.
    return { granted: true, token: reply, leftMs: options.leaseMs, sentAt };
  }
  if (reply[0] === -1) {
    throw new SemaphoreMismatchError(config.name, reply[1], limit);
  }
  if (reply[0] === 1) {
    return { granted: true, token: reply[1], leftMs: reply[2], sentAt };
  }
  return {
    granted: false,
    wakeMs: reply[1],
    rank: reply[2],
    serverNow: reply[3],
    sentAt,
  };
}

/** Whose `ACQUIRE` an {@linkcode acquirer} sends. */
export interface AcquireTarget extends EngineConfig {
  keys: LockKeys;
  /** The waiter's id (its lease's, once granted). */
  id: string;
  weight: number;
  /** Stored with the grant or the queue entry ("" for none). */
  meta: string;
}

/**
 * `ACQUIRE` for one waiter, each call run through `retrying` (which
 * retries transient errors). `fresh`: the first call for this id; only the
 * very first send may skip the look-ups, as a retry may follow an
 * `ACQUIRE` that ran although its reply was lost.
 */
export function acquirer(
  target: AcquireTarget,
  mode: "wait" | "try" | "poll",
  signal: AbortSignal,
  retrying: <T>(fn: () => Promise<T>) => Promise<T>,
): (fresh: boolean) => Promise<Grant | Waiting> {
  const { keys, id, weight, meta } = target;
  return (fresh) => {
    let first = fresh;
    return retrying(() => {
      const attempt = runAcquire(
        target,
        keys,
        id,
        weight,
        mode,
        signal,
        first,
        meta,
      );
      first = false;
      return attempt;
    });
  };
}
