/**
 * Operator views of the primitives in Redis: one lock's state
 * ({@linkcode inspect}; an event's: `inspectEvent` in `inspect_event.ts`), every
 * primitive under a prefix with its kind ({@linkcode listPrimitives}, with
 * `SCAN` on every primary, safe on a large keyspace), and the one write an
 * operator needs: {@linkcode forceRelease}.
 *
 * @module
 */
import { checkClient, internalsOf, type RedisClient } from "./client/client.ts";
import type { PrimaryNode } from "./client/topology.ts";
import { abortable } from "./_internal/async.ts";
import { ConnectionError } from "./errors.ts";
import {
  AUTO_EVENT_KEYS,
  checkName,
  DEFAULT_PREFIX,
  keysFor,
  keysOf,
  LOCK_KEY_SUFFIXES,
  MANUAL_EVENT_KEYS,
  parseKey,
  type PrimitiveKind,
  SCRIPT_KEYS,
} from "./locks/keys.ts";
import { RELEASE } from "./locks/scripts.ts";
import { INFO } from "./locks/state_scripts.ts";

export type { PrimitiveKind };

/** The kinds of lock: what {@linkcode inspect} reads. */
export type LockKind = "mutex" | "semaphore" | "read-write-lock";

/** The permit count of every `ReadWriteLock` (`MAX_PERMITS`). */
const READ_WRITE_PERMITS = 100_000;

/**
 * A lock's kind from its `meta` hash: the kind it records, else (state of
 * an older version, which recorded none) inferred from the count: none is
 * a mutex, a read-write lock's count is one, any other a semaphore.
 */
function lockKind(permits: number | undefined, recorded: unknown): LockKind {
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
 * Reads the state of the lock `name` (mutex, semaphore or read-write lock)
 * in one atomic script: its kind, holders (with the `meta` each
 * acquisition gave), waiters and key TTLs. A name with no key at all reads
 * as a mutex with every TTL -2 (absent). For an event, see
 * `inspectEvent`.
 *
 * @example
 * ```ts
 * import { connect, inspect } from "@redsync/core";
 * await using redis = await connect();
 * const info = await inspect(redis, "partner-api");
 * console.log(info.holders.length, "holders,", info.waiters, "waiting");
 * for (const h of info.holders) console.log(h.id, h.meta ?? "(no meta)");
 * ```
 */
export async function inspect(
  client: RedisClient,
  name: string,
  options: { prefix?: string } = {},
): Promise<LockInfo> {
  checkClient("inspect a lock", client);
  checkName("inspect", name);
  const { prefix = DEFAULT_PREFIX } = options;
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

/** A primitive found under a prefix. */
export interface PrimitiveSummary {
  /** Its name. */
  name: string;
  /**
   * What it is: one kind, or more when primitives of several kinds share
   * the name (a lock and an event do not share keys); none when only its
   * wake lists were seen. A lock's kind is read from its `meta` hash (see
   * {@linkcode LockInfo.kind}).
   */
  kinds: PrimitiveKind[];
  /** Key suffixes seen for it (e.g. `holders`, `owners`, `meta`). */
  keys: string[];
}

/**
 * Lists the primitives under `prefix` with `SCAN` (never `KEYS`): each name
 * once, with its kind (mutex, semaphore, read-write lock, manual-reset or
 * auto-reset event) and the kinds of keys it has, sorted by name. Bounded
 * by `limit` names. On a Redis Cluster every primary is scanned (each with
 * its own cursor, all at once) and the results merged. Telling a semaphore
 * from a read-write lock takes one `HMGET` of its `meta` hash per
 * name that has one (pipelined).
 *
 * @example
 * ```ts
 * import { connect, listPrimitives } from "@redsync/core";
 * await using redis = await connect();
 * for (const p of await listPrimitives(redis)) console.log(p.name, p.kinds.join(","));
 * ```
 */
export async function listPrimitives(
  client: RedisClient,
  options: { prefix?: string; limit?: number; signal?: AbortSignal } = {},
): Promise<PrimitiveSummary[]> {
  checkClient("list primitives", client);
  const { prefix = DEFAULT_PREFIX, limit = 10_000, signal } = options;
  signal?.throwIfAborted();
  // A closed cluster client knows no primary: fail as its commands do.
  if (client.closed) {
    throw new ConnectionError(`Client for ${client.url} is closed`);
  }
  const pattern = escapeGlob(`${prefix}${prefix ? ":" : ""}{`) + "*";
  const found = new Map<string, Set<string>>();
  // Set once `limit` names are found, or one primary failed: every scan
  // stops after its command in flight.
  let stop = false;
  const scan = async (node: PrimaryNode) => {
    let cursor = "0";
    // SCAN visits every key of the node at least once in a bounded number
    // of calls.
    for (let calls = 0; calls < 1_000_000 && !stop; calls++) {
      const [next, keys] = await abortable(
        node.send(["SCAN", cursor, "MATCH", pattern, "COUNT", 1000]),
        signal,
      ) as [string, string[]];
      for (const key of keys) {
        const parsed = parseKey(prefix, key);
        if (parsed === undefined) continue;
        const { name, suffix } = parsed;
        let kinds = found.get(name);
        if (!kinds) {
          if (found.size >= limit) {
            stop = true;
            continue; // keys of names already found may still follow
          }
          found.set(name, kinds = new Set());
        }
        // During a resharding, a key may be seen on two primaries: one
        // name, one set of kinds.
        kinds.add(suffix.replace(/^(grant|wake):.*/, "$1"));
      }
      cursor = next;
      if (cursor === "0") break;
    }
  };
  const nodes = await internalsOf(client).primaries();
  await Promise.all(nodes.map((node) =>
    scan(node).catch((error) => {
      stop = true;
      throw error;
    })
  ));
  const listed = [...found].map(([name, keys]) => ({
    name,
    kinds: [] as PrimitiveKind[],
    keys: [...keys].sort(),
  })).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  // Semaphore or read-write lock: what their meta hash records.
  const withMeta = listed.filter((p) => p.keys.includes("meta"));
  const recorded = new Map<string, LockKind>();
  for (let i = 0; i < withMeta.length; i += META_BATCH) {
    await Promise.all(
      withMeta.slice(i, i + META_BATCH).map(async ({ name }) => {
        const [permits, kind] = await client.command(
          ["HMGET", keysOf(prefix, name).meta, "permits", "kind"],
          { signal },
        ) as [string | null, string | null];
        const count = permits === null ? undefined : Number(permits);
        recorded.set(name, lockKind(count, kind));
      }),
    );
  }
  for (const p of listed) {
    if (p.keys.some((key) => LOCK_KEY_SUFFIXES.has(key))) {
      p.kinds.push(recorded.get(p.name) ?? "mutex");
    }
    if (p.keys.some((key) => MANUAL_SUFFIXES.has(key))) {
      p.kinds.push("manual-reset-event");
    }
    if (p.keys.some((key) => AUTO_SUFFIXES.has(key))) {
      p.kinds.push("auto-reset-event");
    }
  }
  return listed;
}

/** `HMGET`s of `listPrimitives` in flight at once. */
const META_BATCH = 1_000;
const MANUAL_SUFFIXES: ReadonlySet<string> = new Set(MANUAL_EVENT_KEYS);
const AUTO_SUFFIXES: ReadonlySet<string> = new Set(AUTO_EVENT_KEYS);

/**
 * Frees a stuck lease by force (its holder's `signal` aborts with
 * `LockLostError` at its next renewal), and hands the permit to the next
 * waiter. Without `id`, frees every live lease of the primitive. Resolves
 * with the ids freed.
 *
 * @example
 * ```ts
 * import { connect, forceRelease } from "@redsync/core";
 * await using redis = await connect();
 * const freed = await forceRelease(redis, "nightly-report");
 * console.log(`freed ${freed.length} lease(s)`);
 * ```
 */
export async function forceRelease(
  client: RedisClient,
  name: string,
  options: { id?: string; prefix?: string } = {},
): Promise<string[]> {
  checkClient("force a release", client);
  const { id, prefix = DEFAULT_PREFIX } = options;
  const info = await inspect(client, name, { prefix });
  const ids = id === undefined
    ? info.holders.map((h) => h.id)
    : info.holders.some((h) => h.id === id)
    ? [id]
    : [];
  const keys = keysFor(client, prefix, name);
  const freed: string[] = [];
  for (const holder of ids) {
    const result = await RELEASE.run(client, keys.script, [
      holder,
      info.permits ?? 1,
      keys.wakePrefix,
    ]);
    if (result === 1) freed.push(holder);
  }
  return freed;
}

function escapeGlob(text: string): string {
  return text.replace(/[\\*?[\]]/g, "\\$&");
}
