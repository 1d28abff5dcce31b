/**
 * The lock scripts besides taking and giving permits (`scripts.ts`):
 * renewing a lease (`EXTEND`), defining a semaphore's count (`INIT`), and
 * reading a primitive's state (`INFO`). Same six KEYS and prelude.
 *
 * @module
 */
import type { Script } from "../client/script.ts";
import type { StoredLockKind } from "./keys.ts";
import { lockScript } from "./prelude.ts";

/**
 * Extends a live lease to `leaseMs` from now. A lease that already ended is
 * never revived: it is removed and its permit handed on.
 *
 * A live lease's `EXTEND` is always a write in the replication stream, even
 * when it changes nothing (run in the server millisecond of the grant, with
 * both TTLs long enough): it ends with an unconditional `PEXPIRE` of the
 * holders key (never shortening its TTL), which Redis always propagates.
 * Durability relies on it: since Redis 7.0 a client's replication offset,
 * which its `WAIT` counts, moves only with a command that wrote something,
 * and the grant `EXTEND` confirms may have been written by another client.
 *
 * KEYS: as `ACQUIRE` (`scripts.ts`). ARGV: id, leaseMs, limit, wakePrefix.
 * Returns the new lease length in ms, or 0 when the lease is not held.
 */
export const EXTEND: Script<
  [id: string, leaseMs: number, limit: number, wakePrefix: string],
  number
> = lockScript(
  "extend",
  "",
  `
local id = ARGV[1]
local lease_ms = tonumber(ARGV[2])
local limit = limit_of(tonumber(ARGV[3]))
local wake_prefix = ARGV[4]
local now, now_us = clock()

local expiry = redis.call('ZSCORE', holders, id)
if not expiry then return 0 end
if tonumber(expiry) <= now then
  reap_and_serve(limit, now, now_us, wake_prefix)
  return 0
end
if redis.call('HEXISTS', owners, id) == 0 then
  -- Its owners entry was evicted: the lease is lost, never renewed.
  drop_holder(id)
  reap_and_serve(limit, now, now_us, wake_prefix)
  return 0
end
redis.call('ZADD', holders, 'XX', now + lease_ms, id)
-- Always a write, even when nothing changes (same millisecond, TTLs long
-- enough): a PEXPIRE is always propagated, so this client's replication
-- offset, which WAIT counts, moves past the grant it confirms.
local holders_ttl = redis.call('PTTL', holders)
redis.call('PEXPIRE', holders, math.max(holders_ttl, lease_ms))
keep_owners(lease_ms)
return lease_ms
`,
);

/**
 * Defines a semaphore's permit count once. A name in use without a stored
 * count (a mutex holds or waits for it) counts as one permit, so creating a
 * semaphore of another count there fails as a count mismatch.
 *
 * The count is stored with the primitive's kind (`meta` field `kind`),
 * which `inspect()` reports; a count stored by an older version, without
 * one, gets the kind of the first matching caller.
 *
 * KEYS: as `ACQUIRE` (`scripts.ts`). ARGV: permits, idleTtlMs, kind.
 * Returns the stored count (the given one when it was not set yet).
 */
export const INIT: Script<
  [permits: number, idleTtlMs: number, kind: StoredLockKind],
  number
> = lockScript(
  "init",
  "",
  `
local permits = tonumber(ARGV[1])
local idle_ttl = tonumber(ARGV[2])
local kind = ARGV[3]
local stored = redis.call('HGET', meta, 'permits')
if not stored then
  local now = clock()
  local live = redis.call('ZCOUNT', holders, '(' .. now, '+inf')
  if live > 0 or redis.call('ZCARD', queue) > 0 then return 1 end
  redis.call('HSET', meta, 'permits', permits, 'kind', kind)
  stored = permits
elseif tonumber(stored) == permits then
  redis.call('HSETNX', meta, 'kind', kind)
end
keep_idle(meta, idle_ttl)
return tonumber(stored)
`,
);

/** What {@linkcode INFO} answers. */
export type InfoReply = [
  serverTime: number,
  permits: number | null | false,
  holders: (string | number)[],
  waiters: number,
  queued: number,
  ttls: number[],
  notes: string[],
  kind: string,
];

/**
 * Reads a primitive's state without changing it.
 *
 * KEYS: as `ACQUIRE` (`scripts.ts`). ARGV: none.
 * Returns `{now, permits|false, holders, waiters, queued, ttls}` where
 * holders is a flat list `id, leftMs, token, weight, ...` of live leases,
 * waiters counts queue entries with a live heartbeat, ttls holds the
 * PTTL of each of the six keys, notes the holders' meta, in the
 * order of holders ("" for none), and kind the kind `meta` records (""
 * for none: a mutex, or state of an older version).
 */
export const INFO: Script<[], InfoReply> = lockScript(
  "info",
  "",
  `
local now = clock()
local permits = redis.call('HGET', meta, 'permits')
local live = redis.call('ZRANGEBYSCORE', holders, '(' .. now, '+inf', 'WITHSCORES')
local out = {}
local notes = {}
for i = 1, #live, 2 do
  local owner = redis.call('HGET', owners, live[i]) or '0:1'
  notes[#notes + 1] = redis.call('HGET', owners, 'meta:' .. live[i]) or ''
  local token, weight = string.match(owner, '^(%d+):(%d+)$')
  out[#out + 1] = live[i]
  out[#out + 1] = tonumber(live[i + 1]) - now
  out[#out + 1] = tonumber(token)
  out[#out + 1] = tonumber(weight)
end
local waiting = redis.call('ZCOUNT', waiters, '(' .. now, '+inf')
local ttls = {}
for i = 1, #KEYS do ttls[i] = redis.call('PTTL', KEYS[i]) end
return {now, permits and tonumber(permits) or false, out, waiting,
  redis.call('ZCARD', queue), ttls, notes,
  redis.call('HGET', meta, 'kind') or ''}
`,
);
