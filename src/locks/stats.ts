/**
 * Waiting statistics, and what the engine reports to its client (the
 * eviction warning, its activity for `close()`). While an `acquire()` waits, the primitive is listed
 * in `p:contended` (a ZSET of names by the server time their last waiter's
 * heartbeat lapses), so an entry disappears by itself when its waiters are
 * killed. Written off the path to the lock; read by {@linkcode contended}.
 *
 * @module
 */
import { internalsOf, type RedisClient } from "../client/client.ts";
import type { Closable } from "../client/client_options.ts";
import type { LockLogger, Observer } from "../observe.ts";
import { Script } from "../client/script.ts";
import { LUA_BASICS } from "../_internal/lua.ts";
import { contendedKey, DEFAULT_PREFIX } from "./keys.ts";

/**
 * Waiting statistics: marks a primitive as contended until a deadline (its
 * waiter's heartbeat), dropping lapsed entries.
 *
 * KEYS: contended. ARGV: name, untilMs (server clock), ttlMs.
 */
export const CONTENDED: Script<
  [name: string, untilMs: number, ttlMs: number],
  1
> = new Script(
  LUA_BASICS + `
local contended = KEYS[1]
local until_ms = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local now = clock()
redis.call('ZREMRANGEBYSCORE', contended, '-inf', now)
local current = tonumber(redis.call('ZSCORE', contended, ARGV[1]) or '0')
if until_ms > current then redis.call('ZADD', contended, until_ms, ARGV[1]) end
keep(contended, ttl)
return 1
`,
  { keys: 1, name: "contended" },
);

/**
 * Lists the primitives with a live waiter.
 *
 * KEYS: contended. Returns the names.
 */
export const CONTENDED_LIST: Script<[], string[]> = new Script(
  LUA_BASICS + `
local now = clock()
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`,
  { keys: 1, name: "contendedList" },
);

/**
 * Keeps one primitive's `p:contended` entry alive while anyone in this
 * process waits for it, with at most one command per third of the waiter
 * TTL.
 */
export class ContendedMarker {
  readonly #client: RedisClient;
  readonly #key: string;
  readonly #name: string;
  readonly #waiterTtlMs: number;
  /** `performance.now()` until which the entry needs no refresh. */
  #until = 0;

  constructor(
    client: RedisClient,
    prefix: string,
    name: string,
    waiterTtlMs: number,
  ) {
    this.#client = client;
    this.#key = contendedKey(prefix);
    this.#name = name;
    this.#waiterTtlMs = waiterTtlMs;
  }

  /** Marks the primitive contended; not awaited (errors are dropped). */
  mark(serverNow: number): void {
    const now = performance.now();
    if (now < this.#until) return;
    this.#until = now + this.#waiterTtlMs / 3;
    CONTENDED.run(this.#client, [this.#key], [
      this.#name,
      serverNow + this.#waiterTtlMs,
      this.#waiterTtlMs,
    ]).catch(() => {});
  }
}

/**
 * Waiting statistics: the primitives under `prefix` that have a live waiter
 * now. Entries expire with their waiters' heartbeats, so a killed waiter
 * drops out by itself within `waiterTtlMs`. Use {@linkcode inspect} for the
 * number of waiters of each.
 *
 * @example
 * ```ts
 * import { connect, contended, inspect } from "@redsync/core";
 * await using redis = await connect();
 * for (const name of await contended(redis)) {
 *   console.log(name, (await inspect(redis, name)).waiters, "waiting");
 * }
 * ```
 */
export async function contended(
  client: RedisClient,
  options: { prefix?: string } = {},
): Promise<string[]> {
  const { prefix = DEFAULT_PREFIX } = options;
  return await CONTENDED_LIST.run(client, [contendedKey(prefix)]);
}

/**
 * Warns once per client and logger if the server may evict lock keys (its
 * `maxmemory-policy` is not `noeviction`); without a logger, not even asked.
 */
export function warnIfEvicting(
  client: RedisClient,
  observer: Observer,
  logger: LockLogger | undefined,
): void {
  const internals = internalsOf(client);
  if (!logger || internals.evictionWarned.has(logger)) return;
  internals.evictionPolicy().then((policy) => {
    if (policy === undefined || policy === "noeviction") return;
    if (internals.evictionWarned.has(logger)) return;
    internals.evictionWarned.add(logger);
    observer.evictionWarning(policy);
  });
}

/**
 * Keeps a primitive registered with its client while it waits or holds,
 * so that the client's `close()` shuts it down first (releases, withdraws),
 * and unregistered when idle (primitives made per request are not kept).
 */
export class Activity {
  readonly #client: RedisClient;
  readonly #closable: Closable;
  readonly #holding: () => boolean;
  #pending = 0;
  #untrack: (() => void) | undefined;

  constructor(client: RedisClient, closable: Closable, holding: () => boolean) {
    this.#client = client;
    this.#closable = closable;
    this.#holding = holding;
  }

  /**
   * Throws while the client's `close()` runs (see `checkOpen`): what starts
   * then would not be released. A closed client is left to fail its calls.
   */
  checkNotClosing(): void {
    if (!this.#client.closed) internalsOf(this.#client).checkOpen();
  }

  /** An acquire starts. */
  begin(): void {
    this.#pending++;
    this.#untrack ??= internalsOf(this.#client).track(this.#closable);
  }

  /** An acquire ended (granted or not). */
  end(): void {
    this.#pending--;
    this.idle();
  }

  /** Unregisters when nothing waits and nothing is held. */
  idle(): void {
    if (this.#pending > 0 || this.#holding()) return;
    this.#untrack?.();
    this.#untrack = undefined;
  }
}
