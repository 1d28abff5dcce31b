/**
 * The locks the lock benchmark compares, behind one small interface: ours
 * (`Mutex`, `Semaphore`, both wait strategies) and, over ioredis,
 * redis-semaphore, redlock v5 and @sesamecare-oss/redlock.
 *
 * Every worker gets a connection of its own (an own `RedisClient` for ours,
 * with its blocking pool; an own ioredis client for the others), taken from
 * {@linkcode Connections}, which keeps them open across cells.
 *
 * @module
 */
import { Redis as IoRedis } from "npm:ioredis@5.4.1";
import {
  Mutex as RsMutex,
  Semaphore as RsSemaphore,
} from "npm:redis-semaphore@5.8.0";
import Redlock from "npm:redlock@5.0.0-beta.2";
import { Redlock as SesameRedlock } from "npm:@sesamecare-oss/redlock@1.4.0";
import {
  connect,
  type LockOptions,
  Mutex,
  type RedisClient,
  Semaphore,
} from "../mod.ts";
import { IOREDIS_VERSION } from "./client.ts";

/** Versions of the npm packages, as pinned in the imports above. */
export const VERSIONS = {
  ioredis: IOREDIS_VERSION,
  redisSemaphore: "5.8.0",
  redlock: "5.0.0-beta.2",
  sesame: "1.4.0",
} as const;

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

/** A library at given settings, on a mutex or a semaphore. */
export interface Contender {
  /** Stable id, used in key names and the chart. */
  id: string;
  /** Library and primitive, for the tables. */
  label: string;
  /** The settings that differ from the library's defaults, in words. */
  settings: string;
  kind: "mutex" | "semaphore";
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

/** The connections of the benchmark, opened on demand, closed at the end. */
export class Connections {
  readonly url: string;
  /** A connection of ours that no worker uses: ZCARD, INFO. */
  readonly observer: RedisClient;
  readonly #ours: RedisClient[] = [];
  readonly #io: IoRedis[] = [];

  private constructor(url: string, observer: RedisClient) {
    this.url = url;
    this.observer = observer;
  }

  static async open(url: string): Promise<Connections> {
    return new Connections(url, await connect(url));
  }

  /**
   * Our clients 0..count-1, each with its own blocking pool, in which one
   * connection is already open (a BLPOP that returns at once), so that no
   * measured wait includes a connection setup.
   */
  async ours(count: number): Promise<RedisClient[]> {
    while (this.#ours.length < count) {
      const batch = Math.min(16, count - this.#ours.length);
      const opened = await Promise.allSettled(
        Array.from({ length: batch }, () => connect(this.url)),
      );
      const fresh: RedisClient[] = [];
      for (const result of opened) {
        if (result.status === "fulfilled") fresh.push(result.value);
      }
      this.#ours.push(...fresh);
      const failed = opened.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
      const key = `lockbench-pool-warmup-${crypto.randomUUID()}`;
      for (const client of fresh) {
        await this.observer.send("RPUSH", key, "x");
        await client.send("BLPOP", key, 1);
      }
    }
    return this.#ours.slice(0, count);
  }

  /** ioredis clients 0..count-1, at ioredis' defaults. */
  async io(count: number): Promise<IoRedis[]> {
    while (this.#io.length < count) {
      const batch = Math.min(16, count - this.#io.length);
      const clients = Array.from(
        { length: batch },
        () =>
          new IoRedis(this.url, {
            lazyConnect: true,
            // Fail instead of retrying for ever if the server goes away.
            maxRetriesPerRequest: 1,
            retryStrategy: () => null,
          }),
      );
      this.#io.push(...clients);
      await Promise.all(clients.map((client) => client.connect()));
    }
    return this.#io.slice(0, count);
  }

  async close(): Promise<void> {
    const io = this.#io.splice(0);
    const ours = this.#ours.splice(0);
    await Promise.allSettled([
      ...io.map(async (client) => {
        try {
          await client.quit();
        } finally {
          client.disconnect();
        }
      }),
      ...ours.map((client) => client.close()),
      this.observer.close(),
    ]);
  }
}

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

/**
 * Ours: the scripts, the wake hub's `BLMPOP` (`BLPOP` before Redis 7.0, and
 * on a waiting client's blocking pool), and `CLIENT UNBLOCK` (the hub
 * re-blocking on a new set of lists).
 */
const OURS_COMMANDS = [
  "evalsha",
  "eval",
  "blmpop",
  "blpop",
  "client|unblock",
] as const;

/** Our `Mutex` with the given wait strategy (defaults otherwise). */
export function oursMutex(
  id: string,
  label: string,
  settings: string,
  wait: LockOptions["wait"],
): Contender {
  return {
    id,
    label,
    settings,
    kind: "mutex",
    abortable: true,
    commands: OURS_COMMANDS,
    async open(connections, name, count, offset) {
      const clients = (await connections.ours(offset + count)).slice(offset);
      const mutexes = clients.map((client) =>
        new Mutex(client, name, { wait })
      );
      return {
        workers: mutexes.map((mutex) => ({
          acquire: (signal) => mutex.acquire(signal),
        })),
        // Only blocking waiters queue; pollers are observed like the others.
        queued: queues(wait)
          ? () => queueLength(connections.observer, name)
          : undefined,
        close: async () => {
          await Promise.allSettled(
            mutexes.map((mutex) => mutex[Symbol.asyncDispose]()),
          );
        },
      };
    },
  };
}

/** Our `Semaphore` of {@linkcode SEMAPHORE_PERMITS} permits. */
export function oursSemaphore(
  id: string,
  label: string,
  settings: string,
  wait: LockOptions["wait"],
): Contender {
  return {
    id,
    label,
    settings,
    kind: "semaphore",
    abortable: true,
    commands: OURS_COMMANDS,
    async open(connections, name, count, offset) {
      const clients = (await connections.ours(offset + count)).slice(offset);
      const semaphores = await Promise.all(
        clients.map((client) =>
          Semaphore.create(client, name, {
            permits: SEMAPHORE_PERMITS,
            wait,
          })
        ),
      );
      return {
        workers: semaphores.map((semaphore) => ({
          acquire: (signal) => semaphore.acquire(signal),
        })),
        // Only blocking waiters queue; pollers are observed like the others.
        queued: queues(wait)
          ? () => queueLength(connections.observer, name)
          : undefined,
        close: async () => {
          await Promise.allSettled(
            semaphores.map((semaphore) => semaphore[Symbol.asyncDispose]()),
          );
        },
      };
    },
  };
}

/** Whether our waiters with this strategy hold a place in the queue ZSET. */
function queues(wait: LockOptions["wait"]): boolean {
  return wait === undefined || wait === "blocking" ||
    (typeof wait === "object" && wait.strategy === "blocking");
}

async function queueLength(redis: RedisClient, name: string): Promise<number> {
  return Number(await redis.send("ZCARD", `redsync:{${name}}:queue`));
}

/** The redis-semaphore options we set; `acquireTimeout` only so it never fails. */
function rsOptions(retryInterval: number | undefined) {
  return retryInterval === undefined
    ? { acquireTimeout: GIVE_UP_MS }
    : { acquireTimeout: GIVE_UP_MS, retryInterval };
}

/** redis-semaphore's `Mutex` over ioredis (`retryInterval` default 10 ms). */
export function rsMutex(
  id: string,
  label: string,
  settings: string,
  retryInterval?: number,
): Contender {
  return {
    id,
    label,
    settings,
    kind: "mutex",
    abortable: true,
    // acquire: SET NX PX; release: a script (GET + DEL inside).
    commands: ["set", "evalsha", "eval"],
    async open(connections, name, count, offset) {
      const clients = (await connections.io(offset + count)).slice(offset);
      const locks = clients.map((client) =>
        new RsMutex(client, name, rsOptions(retryInterval))
      );
      return {
        workers: locks.map((lock) => ({
          acquire: async (signal) => {
            await lock.acquire(signal);
            return { release: () => lock.release() };
          },
        })),
        close: async () => {
          await Promise.allSettled(locks.map((lock) => lock.release()));
        },
      };
    },
  };
}

/** redis-semaphore's `Semaphore` of {@linkcode SEMAPHORE_PERMITS}. */
export function rsSemaphore(
  id: string,
  label: string,
  settings: string,
  retryInterval?: number,
): Contender {
  return {
    id,
    label,
    settings,
    kind: "semaphore",
    abortable: true,
    // acquire: a script (ZREMRANGEBYSCORE, ZCARD, ZADD, PEXPIRE inside);
    // release: ZREM.
    commands: ["evalsha", "eval", "zrem"],
    async open(connections, name, count, offset) {
      const clients = (await connections.io(offset + count)).slice(offset);
      const locks = clients.map((client) =>
        new RsSemaphore(
          client,
          name,
          SEMAPHORE_PERMITS,
          rsOptions(retryInterval),
        )
      );
      return {
        workers: locks.map((lock) => ({
          acquire: async (signal) => {
            await lock.acquire(signal);
            return { release: () => lock.release() };
          },
        })),
        close: async () => {
          await Promise.allSettled(locks.map((lock) => lock.release()));
        },
      };
    },
  };
}

/** Retry settings of the two redlocks. */
export interface RedlockRetry {
  retryDelay?: number;
  retryJitter?: number;
}

/** `retryCount` that keeps retrying for {@linkcode GIVE_UP_MS}. */
function retryCountFor(retry: RedlockRetry): number {
  const delay = retry.retryDelay ?? 200;
  const jitter = retry.retryJitter ?? 100;
  return Math.ceil(GIVE_UP_MS / Math.max(1, delay - jitter));
}

/** redlock v5 on one ioredis client: `new Redlock([client])`. */
export function redlock(
  id: string,
  label: string,
  settings: string,
  retry: RedlockRetry,
): Contender {
  return {
    id,
    label,
    settings,
    kind: "mutex",
    abortable: false,
    // Every operation is one script (EXISTS/SET, GET/DEL inside).
    commands: ["evalsha", "eval"],
    async open(connections, name, count, offset) {
      const clients = (await connections.io(offset + count)).slice(offset);
      const locks = clients.map((client) =>
        new Redlock([client], { ...retry, retryCount: retryCountFor(retry) })
      );
      return {
        workers: locks.map((lock) => ({
          acquire: async () => {
            const held = await lock.acquire([name], REDLOCK_TTL_MS);
            return { release: () => held.release() };
          },
        })),
        close: () => Promise.resolve(),
      };
    },
  };
}

/** @sesamecare-oss/redlock (a maintained fork of redlock v5), one client. */
export function sesameRedlock(
  id: string,
  label: string,
  settings: string,
  retry: RedlockRetry,
): Contender {
  return {
    id,
    label,
    settings,
    kind: "mutex",
    abortable: false,
    // Scripts defined with ioredis' defineCommand: EVALSHA, EVAL on NOSCRIPT.
    commands: ["evalsha", "eval"],
    async open(connections, name, count, offset) {
      const clients = (await connections.io(offset + count)).slice(offset);
      const locks = clients.map((client) =>
        new SesameRedlock([client], {
          ...retry,
          retryCount: retryCountFor(retry),
        })
      );
      return {
        workers: locks.map((lock) => ({
          acquire: async () => {
            const held = await lock.acquire([name], REDLOCK_TTL_MS);
            return { release: () => held.release() };
          },
        })),
        close: () => Promise.resolve(),
      };
    },
  };
}
