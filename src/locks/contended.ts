/**
 * Waiting statistics: while an `acquire()` waits, the primitive is listed
 * in `p:contended` (a ZSET of names by the server time their last waiter's
 * heartbeat lapses), so an entry disappears by itself when its waiters are
 * killed. Written off the path to the lock ({@linkcode ContendedMarker});
 * read by `contended()` of `@redsync/core/admin` ({@linkcode CONTENDED_LIST}).
 *
 * @module
 */
import type { RedisClient } from "../client/client.ts";
import { Script } from "../client/script.ts";
import { LUA_BASICS } from "../_internal/lua.ts";
import { contendedKey } from "./keys.ts";

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
