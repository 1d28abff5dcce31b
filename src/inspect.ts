/**
 * Operator views of the primitives in Redis (the `@redsync/core/admin`
 * entry point, `src/admin.ts`): one lock's state ({@linkcode inspect}, on
 * the locks' own `INFO` read, `locks/info.ts`; an event's: `inspectEvent`
 * in `inspect_event.ts`), every primitive under a prefix with its kind
 * ({@linkcode listPrimitives}, with `SCAN` on every primary, safe on a
 * large keyspace), the primitives with live waiters ({@linkcode contended}),
 * and the one write an operator needs: {@linkcode forceRelease}. The locks
 * never import this file.
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
  contendedKey,
  DEFAULT_PREFIX,
  keysForClient,
  keysOf,
  LOCK_KEY_SUFFIXES,
  MANUAL_EVENT_KEYS,
  parseKey,
  type PrimitiveKind,
} from "./locks/keys.ts";
import {
  type LockInfo,
  type LockKind,
  lockKind,
  readLockInfo,
} from "./locks/info.ts";
import { RELEASE } from "./locks/scripts.ts";
import { CONTENDED_LIST } from "./locks/contended.ts";

export type { PrimitiveKind };

/**
 * Options of {@linkcode inspect}.
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * import { inspect, type InspectOptions } from "@redsync/core/admin";
 * await using redis = await connect();
 * const options: InspectOptions = { prefix: "billing" };
 * console.log((await inspect(redis, "invoices", options)).holders.length);
 * ```
 */
export interface InspectOptions {
  /**
   * The key prefix the lock was created with (its `prefix` option).
   *
   * @default {"redsync"}
   */
  prefix?: string;
}

/**
 * Options of {@linkcode listPrimitives}.
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * import { listPrimitives, type ListPrimitivesOptions } from "@redsync/core/admin";
 * await using redis = await connect();
 * const options: ListPrimitivesOptions = { limit: 100, signal: AbortSignal.timeout(5_000) };
 * console.log((await listPrimitives(redis, options)).length, "primitives");
 * ```
 */
export interface ListPrimitivesOptions {
  /**
   * The key prefix to list under (the primitives' `prefix` option).
   *
   * @default {"redsync"}
   */
  prefix?: string;
  /**
   * At most this many names: the scans stop once they have found it.
   *
   * @default {10000}
   */
  limit?: number;
  /**
   * Ends the listing: it rejects with `signal.reason`.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * Options of {@linkcode forceRelease}.
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * import { forceRelease, type ForceReleaseOptions, inspect } from "@redsync/core/admin";
 * await using redis = await connect();
 * const [oldest] = (await inspect(redis, "nightly-report")).holders;
 * if (oldest) {
 *   const options: ForceReleaseOptions = { id: oldest.id };
 *   console.log(await forceRelease(redis, "nightly-report", options));
 * }
 * ```
 */
export interface ForceReleaseOptions {
  /**
   * The lease to free (a holder's `id` from {@linkcode inspect}); when it
   * is not live any more, nothing is freed. Without it, every live lease
   * of the primitive is freed.
   *
   * @default {undefined}
   */
  id?: string;
  /**
   * The key prefix the lock was created with (its `prefix` option).
   *
   * @default {"redsync"}
   */
  prefix?: string;
}

/**
 * Options of {@linkcode contended}.
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * import { contended, type ContendedOptions } from "@redsync/core/admin";
 * await using redis = await connect();
 * const options: ContendedOptions = { prefix: "billing" };
 * console.log(await contended(redis, options));
 * ```
 */
export interface ContendedOptions {
  /**
   * The key prefix of the primitives (their `prefix` option).
   *
   * @default {"redsync"}
   */
  prefix?: string;
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
 * import { connect } from "@redsync/core";
 * import { inspect } from "@redsync/core/admin";
 * await using redis = await connect();
 * const info = await inspect(redis, "partner-api");
 * console.log(info.holders.length, "holders,", info.waiters, "waiting");
 * for (const h of info.holders) console.log(h.id, h.meta ?? "(no meta)");
 * ```
 */
export async function inspect(
  client: RedisClient,
  name: string,
  options: InspectOptions = {},
): Promise<LockInfo> {
  checkClient("inspect a lock", client);
  checkName("inspect", name);
  const { prefix = DEFAULT_PREFIX } = options;
  return await readLockInfo(client, name, prefix);
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
 * import { connect } from "@redsync/core";
 * import { listPrimitives } from "@redsync/core/admin";
 * await using redis = await connect();
 * for (const p of await listPrimitives(redis)) console.log(p.name, p.kinds.join(","));
 * ```
 */
export async function listPrimitives(
  client: RedisClient,
  options: ListPrimitivesOptions = {},
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
 * import { connect } from "@redsync/core";
 * import { forceRelease } from "@redsync/core/admin";
 * await using redis = await connect();
 * const freed = await forceRelease(redis, "nightly-report");
 * console.log(`freed ${freed.length} lease(s)`);
 * ```
 */
export async function forceRelease(
  client: RedisClient,
  name: string,
  options: ForceReleaseOptions = {},
): Promise<string[]> {
  checkClient("force a release", client);
  const { id, prefix = DEFAULT_PREFIX } = options;
  const info = await inspect(client, name, { prefix });
  const ids = id === undefined
    ? info.holders.map((h) => h.id)
    : info.holders.some((h) => h.id === id)
    ? [id]
    : [];
  const keys = keysForClient(client, prefix, name);
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

/**
 * Waiting statistics: the primitives under `prefix` that have a live waiter
 * now. Entries expire with their waiters' heartbeats, so a killed waiter
 * drops out by itself within `waiterTtlMs`. Use {@linkcode inspect} for the
 * number of waiters of each.
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * import { contended, inspect } from "@redsync/core/admin";
 * await using redis = await connect();
 * for (const name of await contended(redis)) {
 *   console.log(name, (await inspect(redis, name)).waiters, "waiting");
 * }
 * ```
 */
export async function contended(
  client: RedisClient,
  options: ContendedOptions = {},
): Promise<string[]> {
  const { prefix = DEFAULT_PREFIX } = options;
  return await CONTENDED_LIST.run(client, [contendedKey(prefix)]);
}

function escapeGlob(text: string): string {
  return text.replace(/[\\*?[\]]/g, "\\$&");
}
