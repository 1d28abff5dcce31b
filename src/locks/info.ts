/**
 * A lock's state as Redis holds it: {@linkcode LockInfo} and its holders,
 * read in one atomic `INFO` script ({@linkcode readLockInfo}). What
 * `info()` of a primitive and the timeout snapshot read; the operator
 * views (`inspect()`, `forceRelease()`, `listPrimitives()` in
 * `src/inspect.ts`) build on it.
 *
 * @module
 */
import type { RedisClient } from "../client/client.ts";
import { keysOf, SCRIPT_KEYS } from "./keys.ts";
import { INFO } from "./scripts.ts";

/** The kinds of lock: what `inspect()` and a primitive's `info()` read. */
export type LockKind = "mutex" | "semaphore" | "read-write-lock";

/** The permit count of every `ReadWriteLock` (`MAX_PERMITS`). */
const READ_WRITE_PERMITS = 100_000;

/**
 * A lock's kind from its `meta` hash: the kind it records, else (state of
 * an older version, which recorded none) inferred from the count: none is
 * a mutex, a read-write lock's count is one, any other a semaphore.
 */
export function lockKind(
  permits: number | undefined,
  recorded: unknown,
): LockKind {
  if (recorded === "semaphore" || recorded === "read-write-lock") {
    return recorded;
  }
  if (permits === undefined) return "mutex";
  return permits === READ_WRITE_PERMITS ? "read-write-lock" : "semaphore";
}

/** One live lease, as Redis sees it. */
export interface HolderInfo {
  /** Lease id (what a force-release names). */
  id: string;
  /** Fencing token of the lease. */
  token: number;
  /** Permits it holds. */
  permits: number;
  /** Time left on the lease by the server's clock, in ms. */
  remainingMs: number;
  /**
   * What its `acquire({ meta })` said about it (who holds it and why);
   * absent when it gave none.
   */
  meta?: string;
}

/** A primitive's state at one instant, read atomically. */
export interface LockInfo {
  /** The primitive's name. */
  name: string;
  /** The key prefix. */
  prefix: string;
  /**
   * What it is: a mutex stores no permit count; a semaphore or a
   * read-write lock stores its kind with its count (a count stored by an
   * older version, without a kind, is taken for a read-write lock when it
   * is 100,000, else for a semaphore).
   */
  kind: LockKind;
  /**
   * Permit count stored in Redis (semaphores; 100,000 for a read-write
   * lock), or `undefined` (mutexes).
   */
  permits: number | undefined;
  /** Live leases, oldest expiry first. */
  holders: HolderInfo[];
  /** Waiters with a live heartbeat (crashed waiters drop out by themselves). */
  waiters: number;
  /** Queue entries, live or not yet reaped. */
  queued: number;
  /** The server's clock when read (ms since the epoch). */
  serverTime: number;
  /** PTTL of each key in ms: -1 no TTL, -2 absent. */
  keyTtls: Record<string, number>;
}

/**
 * Reads the state of the lock `name` under `prefix` in one `INFO` script:
 * its kind, holders (with the `meta` each acquisition gave), waiters and
 * key TTLs. A name with no key at all reads as a mutex with every TTL -2
 * (absent). No argument check: the callers have checked (or built) them.
 */
export async function readLockInfo(
  client: RedisClient,
  name: string,
  prefix: string,
): Promise<LockInfo> {
  const reply = await INFO.run(client, keysOf(prefix, name).script);
  const [serverTime, permits, flat, waiters, queued, ttls, notes, kind] = reply;
  const holders: HolderInfo[] = [];
  for (let i = 0; i < flat.length; i += 4) {
    const holder: HolderInfo = {
      id: String(flat[i]),
      remainingMs: Number(flat[i + 1]),
      token: Number(flat[i + 2]),
      permits: Number(flat[i + 3]),
    };
    const meta = notes?.[i / 4];
    if (typeof meta === "string" && meta !== "") holder.meta = meta;
    holders.push(holder);
  }
  const count = typeof permits === "number" ? permits : undefined;
  return {
    name,
    prefix,
    kind: lockKind(count, kind),
    permits: count,
    holders,
    waiters,
    queued,
    serverTime,
    keyTtls: Object.fromEntries(SCRIPT_KEYS.map((k, i) => [k, ttls[i]])),
  };
}
