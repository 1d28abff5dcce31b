/**
 * Several locks as one: `acquireAll()` takes every lock of a set (mutexes,
 * semaphore permits), or none, and hands back one {@linkcode MultiLease}.
 *
 * No deadlock between callers asking for overlapping sets in different
 * orders: every caller takes the locks in one global order (prefix, then
 * name, then server), whatever order it gave them in. All or nothing: if
 * an acquire fails, the signal aborts or a lease already taken is lost, the
 * locks already taken are released before the promise rejects.
 *
 * The server of a lock is known by its `run_id` (`INFO server`) and the
 * client's database, not by the address a client reached it at: the same
 * server named `localhost` by one client and `127.0.0.1` by another is one
 * server, for the "given twice" check and for the order. It is asked only
 * when two parts share a prefix and a name.
 *
 * @module
 */
import { abortable } from "../_internal/async.ts";
import { internalsOf, type RedisClient } from "../client/client.ts";
import { Script } from "../client/script.ts";
import { RedisReplyError } from "../errors.ts";
import type { Lease } from "./lease.ts";
import { identityOf, type LockPrimitive } from "./primitive.ts";
import { Semaphore } from "./semaphore.ts";

/** One part of an `acquireAll()`: a lock, or a semaphore with a permit count. */
export type MultiLockPart = LockPrimitive | {
  /** The semaphore (or mutex). */
  lock: LockPrimitive;
  /**
   * Permits to take of it (semaphores).
   * @default {1}
   */
  permits?: number;
};

/**
 * The leases of an `acquireAll()`, held together: `signal` aborts as soon
 * as any of them is lost, `release()` gives them all back.
 *
 * @example
 * ```ts
 * import { acquireAll, connect, Mutex } from "@redsync/core";
 * await using redis = await connect();
 * const from = new Mutex(redis, "account:17");
 * const to = new Mutex(redis, "account:42");
 * await using both = await acquireAll([from, to], AbortSignal.timeout(5_000));
 * console.log(both.tokens); // one fencing token per lock, in the order given
 * ```
 */
export class MultiLease implements AsyncDisposable {
  /** The leases, in the order the locks were given. */
  readonly leases: readonly Lease[];
  /** Aborts (with that lease's `LockLostError`) when any lease is lost. */
  readonly signal: AbortSignal;

  /** @internal Made by `acquireAll()`. */
  constructor(leases: readonly Lease[]) {
    this.leases = leases;
    this.signal = AbortSignal.any(leases.map((lease) => lease.signal));
  }

  /** The fencing token of each lease, in the order the locks were given. */
  get tokens(): number[] {
    return this.leases.map((lease) => lease.token);
  }

  /**
   * Releases every lease (all are attempted); rejects with the first error
   * if any release failed (a lease that had been lost).
   *
   * @example
   * ```ts
   * import { acquireAll, connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * const both = await acquireAll([new Mutex(redis, "a"), new Mutex(redis, "b")]);
   * await both.release();
   * ```
   */
  async release(): Promise<void> {
    const results = await Promise.allSettled(
      this.leases.map((lease) => lease.release()),
    );
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /**
   * Extends every lease (to `leaseMs` from now, or each one's own lease).
   *
   * @example
   * ```ts
   * import { acquireAll, connect, Mutex } from "@redsync/core";
   * await using redis = await connect();
   * await using both = await acquireAll([new Mutex(redis, "a"), new Mutex(redis, "b")]);
   * await both.extend(60_000);
   * ```
   */
  async extend(leaseMs?: number): Promise<void> {
    await Promise.all(this.leases.map((lease) => lease.extend(leaseMs)));
  }

  /** Releases every lease at the end of an `await using` scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.allSettled(
      this.leases.map((lease) => lease[Symbol.asyncDispose]()),
    );
  }
}

/**
 * Takes every lock of `parts` (all, or none), in one global order so that
 * callers asking for overlapping sets never deadlock; resolves with one
 * {@linkcode MultiLease}. On abort (rejects with `signal.reason`), on the
 * loss of a lease already taken while a later one is awaited (rejects with
 * its `LockLostError`) or any other failure, the locks already taken are
 * released first. The same lock twice (same prefix, name, server and
 * database, however the clients name the server) is a `TypeError`.
 *
 * @example Move money between two accounts
 * ```ts
 * import { acquireAll, connect, Mutex, Semaphore } from "@redsync/core";
 * await using redis = await connect();
 * const api = await Semaphore.create(redis, "partner-api", { permits: 5 });
 * await using held = await acquireAll(
 *   [new Mutex(redis, "account:42"), new Mutex(redis, "account:17"), { lock: api, permits: 2 }],
 *   AbortSignal.timeout(5_000),
 * );
 * // ... both accounts and two API permits are ours until the scope ends
 * ```
 */
export async function acquireAll(
  parts: readonly MultiLockPart[],
  signal?: AbortSignal,
): Promise<MultiLease> {
  if (!Array.isArray(parts) || parts.length === 0) {
    throw new TypeError(
      "Cannot acquire all as 'parts' must be a non-empty array of locks",
    );
  }
  const entries = parts.map((part, index) => {
    const lock = "lock" in part ? part.lock : part;
    const permits = "lock" in part ? part.permits ?? 1 : 1;
    const identity = identityOf(lock);
    if (identity === undefined) {
      throw new TypeError(
        `Cannot acquire all as part ${index} is not a Mutex or a Semaphore`,
      );
    }
    if (permits !== 1 && !(lock instanceof Semaphore)) {
      throw new TypeError(
        `Cannot acquire all as part ${index} ('${lock.name}') is a mutex: only a semaphore takes 'permits'`,
      );
    }
    if (!Number.isInteger(permits) || permits < 1) {
      throw new RangeError(
        `Cannot acquire all as 'permits' of part ${index} must be an integer >= 1: current value is ${permits}`,
      );
    }
    return {
      lock,
      permits,
      identity,
      index,
      url: identity.client.url,
      server: "",
    };
  });
  // The same lock through the same client URL: refused before any I/O.
  checkTwice(entries, (entry) => `${entry.identity.lock}\0${entry.url}`);
  signal?.throwIfAborted();
  // Parts that share a prefix and a name: on one server (given twice) or
  // on several (ordered by server). Only then is the server asked.
  const named = new Map<string, number>();
  for (const { identity } of entries) {
    named.set(identity.lock, (named.get(identity.lock) ?? 0) + 1);
  }
  await Promise.all(entries.map(async (entry) => {
    if (named.get(entry.identity.lock)! < 2) return;
    const { client, key } = entry.identity;
    entry.server = await abortable(serverOf(client, key), signal);
  }));
  checkTwice(entries, (entry) => `${entry.identity.lock}\0${entry.server}`);
  const order = (entry: typeof entries[number]) =>
    `${entry.identity.lock}\0${entry.server}`;
  const ordered = [...entries].sort((a, b) =>
    order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0
  );
  const leases: Lease[] = new Array(parts.length);
  const taken: Lease[] = [];
  // A lease taken that is lost ends the acquires still to come.
  const lost = new AbortController();
  const until = signal ? AbortSignal.any([signal, lost.signal]) : lost.signal;
  const onLost = (event: Event) =>
    lost.abort((event.target as AbortSignal).reason);
  try {
    for (const { lock, permits, index } of ordered) {
      const lease = permits === 1
        ? await lock.acquire(until)
        : await lock.acquire(
          { signal: until, permits } as Parameters<
            typeof lock.acquire
          >[0],
        );
      leases[index] = lease;
      taken.push(lease);
      if (lease.signal.aborted) lost.abort(lease.signal.reason);
      else lease.signal.addEventListener("abort", onLost, { once: true });
    }
    // Lost after its own acquire resolved, or while the last was granted.
    lost.signal.throwIfAborted();
  } catch (error) {
    // All or nothing: give back what was taken (a release that meets a
    // dropped connection is retried in the background by the lease).
    await Promise.allSettled(taken.map((lease) => lease.release()));
    throw error;
  } finally {
    for (const lease of taken) {
      lease.signal.removeEventListener("abort", onLost);
    }
  }
  return new MultiLease(leases);
}

/** Throws `TypeError` for the first lock whose `idOf` is seen twice. */
function checkTwice<T extends { lock: LockPrimitive }>(
  entries: readonly T[],
  idOf: (entry: T) => string,
): void {
  const seen = new Set<string>();
  for (const entry of entries) {
    const id = idOf(entry);
    if (seen.has(id)) {
      throw new TypeError(
        `Cannot acquire all as the lock '${entry.lock.name}' is given twice`,
      );
    }
    seen.add(id);
  }
}

/**
 * The `run_id` of the server that serves `KEYS[1]`: a script, so that a
 * cluster client asks the node of the lock's slot (a keyless `INFO` goes to
 * any node). `nil` when `INFO` does not name it.
 */
const RUN_ID: Script<[], string | null> = new Script(
  "return string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')",
  { keys: 1, name: "RUN_ID" },
);

/** The server of each client, asked once and kept until it reconnects. */
const servers = new WeakMap<RedisClient, Promise<string>>();
/** The clients whose reconnects forget their server. */
const watched = new WeakSet<RedisClient>();

/**
 * Which server and database the lock at `key` lives on, the same whatever
 * address the client reached it at: `run_id/db`. Asked once per client
 * (until it reconnects: a failover or a restart changes it); in a cluster,
 * of the key's node each time. Where `INFO` is refused or renamed (ACLs),
 * the client's URL stands in.
 */
function serverOf(client: RedisClient, key: string): Promise<string> {
  const { cluster, db, onReconnect } = internalsOf(client);
  const known = cluster ? undefined : servers.get(client);
  if (known) return known;
  const asked = RUN_ID.run(client, [key], []).then(
    (runId) => runId ? `${runId}/${db}` : client.url,
    (error) => {
      if (error instanceof RedisReplyError) return client.url;
      servers.delete(client); // ask again next time
      throw error;
    },
  );
  if (!cluster) {
    servers.set(client, asked);
    if (!watched.has(client)) {
      watched.add(client);
      onReconnect(() => servers.delete(client));
    }
  }
  return asked;
}
