/**
 * The locks the lock cells compare, behind one small interface: ours
 * (`Mutex`, `Semaphore`, both wait strategies) and, over ioredis,
 * redis-semaphore, redlock v5 and @sesamecare-oss/redlock. Each library is
 * described once (how a worker's client makes its lock object, acquires and
 * lets go); {@linkcode contender} turns one, at given settings, into a
 * {@linkcode Contender}. Every worker gets a connection of its own, taken
 * from {@linkcode Connections}.
 *
 * @module
 */
import {
  type LockOptions,
  Mutex,
  type RedisClient,
  Semaphore,
} from "../../mod.ts";
import type { Connections } from "./connections.ts";
import {
  type IoRedis,
  Redlock,
  RsMutex,
  RsSemaphore,
  SesameRedlock,
} from "./npm.ts";
import { queueKey } from "./redis.ts";

/** Permits of every semaphore of the benchmark. */
export const SEMAPHORE_PERMITS = 4;

/** Lock duration given to redlock's `acquire(keys, ttl)` (it has no default). */
export const REDLOCK_TTL_MS = 10_000;

/**
 * How long the libraries that give up by default keep retrying here: redlock
 * gets `retryCount = GIVE_UP_MS / smallest retry delay`, redis-semaphore
 * `acquireTimeout = GIVE_UP_MS`. Only there so that no acquire fails.
 */
export const GIVE_UP_MS = 60_000;

/**
 * Ours, every command our client sends itself: the lock scripts as Redis
 * Functions (`FCALL`; a script's first runs on a client go as `EVALSHA`,
 * `EVAL` on `NOSCRIPT`, while `FUNCTION LOAD` loads its library in the
 * background), and its wake hub's subscriber connection: `SUBSCRIBE` (a
 * cluster: `SSUBSCRIBE`) to its channel when it first has a waiter,
 * `UNSUBSCRIBE`/`SUNSUBSCRIBE` once it had none for 10 s, and a liveness
 * `PING` after 2 s of silence on it. The scripts' own calls (`PUBLISH` of a
 * wake-up, `ZADD`, `HSET`, ...) cost no round trip and are not counted, nor
 * is the handshake of a hub connection opening (`CLIENT SETNAME`, `INFO`:
 * the latter cannot be told from the benchmark's own `INFO`).
 */
export const OURS_COMMANDS: readonly string[] = [
  "fcall",
  "evalsha",
  "eval",
  "function|load",
  "subscribe",
  "ssubscribe",
  "unsubscribe",
  "sunsubscribe",
  "ping",
];

/** A held lock: whatever the library returns, reduced to `release()`. */
export interface Held {
  release(): Promise<unknown>;
}

/** One worker's handle on the lock under test. */
export interface LockWorker {
  /**
   * Waits for the lock. `signal` stops the wait where the library can be
   * stopped ({@linkcode Contender.abortable}); others ignore it.
   */
  acquire(signal: AbortSignal): Promise<Held>;
}

/** One lock (one name) with its workers. */
export interface Subject {
  workers: LockWorker[];
  /** Members of our queue ZSET `redsync:{name}:queue` (ours only). */
  queued?: () => Promise<number>;
  /** Releases what the workers' objects still hold and drops them. */
  close(): Promise<void>;
}

/** A mutex (one holder) or a semaphore of {@linkcode SEMAPHORE_PERMITS}. */
export type Kind = "mutex" | "semaphore";

/** A library at given settings, on a mutex or a semaphore. */
export interface Contender {
  /** Stable id, used in key names, the chart and `BENCH_LOCKS_ONLY`. */
  id: string;
  /** Library and primitive, for the tables. */
  label: string;
  /** The settings that differ from the library's defaults, in words. */
  settings: string;
  kind: Kind;
  /** `acquire` can be stopped with an `AbortSignal`. */
  abortable: boolean;
  /**
   * The Redis commands this library sends itself, as `INFO commandstats`
   * names them. Commands its Lua scripts call inside are not listed: Redis
   * counts those in commandstats too, but they cost no round trip.
   */
  commands: readonly string[];
  /**
   * Opens the lock `name` for `count` workers, on connections `offset` to
   * `offset + count - 1` of `connections`.
   */
  open(
    connections: Connections,
    name: string,
    count: number,
    offset: number,
  ): Promise<Subject>;
}

/** What tells contenders of one library apart. */
export interface Naming {
  id: string;
  label: string;
  settings: string;
}

/** One library: how a worker's client `C` makes, takes and drops a lock `L`. */
interface Library<C, L> {
  kind: Kind;
  abortable: boolean;
  commands: readonly string[];
  /** Clients 0..count-1 of the connections. */
  clients(connections: Connections, count: number): Promise<C[]>;
  make(client: C, name: string): L | Promise<L>;
  acquire(lock: L, signal: AbortSignal, name: string): Promise<Held>;
  /** Lets go of whatever `lock` still holds. */
  close(lock: L): Promise<unknown>;
  /** Counts the waiters in the lock's queue, where the library has one. */
  queued?(connections: Connections, name: string): () => Promise<number>;
}

/** `library` at the settings `naming` describes, as a contender. */
function contender<C, L>(naming: Naming, library: Library<C, L>): Contender {
  const { kind, abortable, commands } = library;
  return {
    ...naming,
    kind,
    abortable,
    commands,
    async open(connections, name, count, offset) {
      const clients = (await library.clients(connections, offset + count))
        .slice(offset);
      const locks = await Promise.all(
        clients.map((client) => library.make(client, name)),
      );
      return {
        workers: locks.map((lock) => ({
          acquire: (signal) => library.acquire(lock, signal, name),
        })),
        queued: library.queued?.(connections, name),
        close: async () => {
          await Promise.allSettled(locks.map((lock) => library.close(lock)));
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------
// Ours
// ---------------------------------------------------------------------------

/** `wait` of ours: polling every `ms`, constant (factor 1, no jitter). */
export function pollingEvery(ms: number): LockOptions["wait"] {
  return {
    strategy: "polling",
    intervalMs: ms,
    maxIntervalMs: ms,
    factor: 1,
    jitter: 0,
  };
}

/** Whether our waiters with this strategy hold a place in the queue ZSET. */
function queues(wait: LockOptions["wait"]): boolean {
  return wait === undefined || wait === "blocking" ||
    (typeof wait === "object" && wait.strategy === "blocking");
}

/** Our `Mutex`, or `Semaphore` of {@linkcode SEMAPHORE_PERMITS}, with `wait`. */
export function ours(
  naming: Naming,
  kind: Kind,
  wait: LockOptions["wait"],
): Contender {
  return contender<RedisClient, Mutex | Semaphore>(naming, {
    kind,
    abortable: true,
    commands: OURS_COMMANDS,
    clients: (connections, count) => connections.ours(count),
    make: (client, name) =>
      kind === "mutex"
        ? new Mutex(client, name, { wait })
        : Semaphore.create(client, name, { permits: SEMAPHORE_PERMITS, wait }),
    acquire: (lock, signal) => lock.acquire(signal),
    close: (lock) => lock[Symbol.asyncDispose](),
    // Only blocking waiters queue; pollers are observed like the others.
    queued: queues(wait)
      ? (connections, name) => async () =>
        Number(await connections.observer.send("ZCARD", queueKey(name)))
      : undefined,
  });
}

// ---------------------------------------------------------------------------
// The other libraries, over ioredis
// ---------------------------------------------------------------------------

/**
 * redis-semaphore's `Mutex`, or `Semaphore` of {@linkcode SEMAPHORE_PERMITS}
 * (`retryInterval` default 10 ms; `acquireTimeout` set only so that it
 * never fails).
 */
export function redisSemaphore(
  naming: Naming,
  kind: Kind,
  retryInterval?: number,
): Contender {
  const options = retryInterval === undefined
    ? { acquireTimeout: GIVE_UP_MS }
    : { acquireTimeout: GIVE_UP_MS, retryInterval };
  return contender<IoRedis, RsMutex | RsSemaphore>(naming, {
    kind,
    abortable: true,
    commands: kind === "mutex"
      // acquire: SET NX PX; release: a script (GET + DEL inside).
      ? ["set", "evalsha", "eval"]
      // acquire: a script (ZREMRANGEBYSCORE, ZCARD, ZADD, PEXPIRE inside);
      // release: ZREM.
      : ["evalsha", "eval", "zrem"],
    clients: (connections, count) => connections.io(count),
    make: (client, name) =>
      kind === "mutex"
        ? new RsMutex(client, name, options)
        : new RsSemaphore(client, name, SEMAPHORE_PERMITS, options),
    acquire: async (lock, signal) => {
      await lock.acquire(signal);
      return { release: () => lock.release() };
    },
    close: (lock) => lock.release(),
  });
}

/** Retry settings of the two redlocks. */
export interface RedlockRetry {
  retryDelay?: number;
  retryJitter?: number;
}

/**
 * redlock v5 (`"redlock"`) or @sesamecare-oss/redlock, its maintained fork
 * (`"sesame"`), on one ioredis client: `new Redlock([client])`, with
 * `retryCount` raised so that it keeps retrying for {@linkcode GIVE_UP_MS}.
 */
export function redlock(
  naming: Naming,
  fork: "redlock" | "sesame",
  retry: RedlockRetry,
): Contender {
  const delay = retry.retryDelay ?? 200;
  const jitter = retry.retryJitter ?? 100;
  const settings = {
    ...retry,
    retryCount: Math.ceil(GIVE_UP_MS / Math.max(1, delay - jitter)),
  };
  return contender<IoRedis, Redlock | SesameRedlock>(naming, {
    kind: "mutex",
    abortable: false,
    // Every operation is one script (EXISTS/SET, GET/DEL inside); sesame
    // defines them with ioredis' defineCommand: EVALSHA, EVAL on NOSCRIPT.
    commands: ["evalsha", "eval"],
    clients: (connections, count) => connections.io(count),
    make: (client) =>
      fork === "redlock"
        ? new Redlock([client], settings)
        : new SesameRedlock([client], settings),
    acquire: async (lock, _signal, name) => {
      const held = await lock.acquire([name], REDLOCK_TTL_MS);
      return { release: () => held.release() };
    },
    close: () => Promise.resolve(),
  });
}
