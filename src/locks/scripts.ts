/**
 * The Lua scripts of the lock primitives (mutex, semaphore, read-write
 * lock): taking and giving permits (`ACQUIRE`, `RELEASE`), renewing a lease
 * (`EXTEND`), defining a semaphore's count (`INIT`) and reading a
 * primitive's state (`INFO`), all on the same six KEYS and prelude. `ARCHITECTURE.md`
 * explains the keys and the reasoning; in short, for a primitive `name`
 * under prefix `p`, all keys share the hash tag `{name}`:
 *
 * | key                  | type   | holds                                              |
 * | -------------------- | ------ | -------------------------------------------------- |
 * | `p:{name}:holders`   | ZSET   | lease id -> expiry (server ms)                     |
 * | `p:{name}:owners`    | HASH   | lease id -> "token:weight"                         |
 * |                      |        | `#used` -> total;                                  |
 * |                      |        | `#token` -> the last fencing token;                |
 * |                      |        | `meta:<lease id>` -> the holder's meta, if any     |
 * | `p:{name}:queue`     | ZSET   | waiter id -> arrival (server us): FIFO order       |
 * | `p:{name}:waiters`   | ZSET   | waiter id -> heartbeat deadline (server ms)        |
 * | `p:{name}:wants`     | HASH   | waiter id -> "weight:leaseMs"; `meta:<id>` -> meta |
 * | `p:{name}:meta`      | HASH   | permits -> count; kind -> "semaphore" or           |
 * |                      |        | "read-write-lock" (not for a mutex)                |
 * | `p:wake:<hub>`       | LIST   | "id|token:leaseEnd" per grant, read by hub `<hub>` |
 *
 * The wake list is shared by every primitive a client waits on, one per
 * wake hub (a cluster client: sharded pub/sub on `p:{name}:wake:<hub>`,
 * no list); see `wake()` in `src/_internal/lua.ts`.
 *
 * Every key expires when idle. `owners` lives at least `TOKEN_WINDOW_MS`
 * (60 s) after each grant, and with it the last fencing token; tokens never
 * fall below the server clock in microseconds, so they still increase once
 * it is gone, unless that clock goes back by more than this window.
 *
 * Scripts read the server clock (`TIME`), never a client's. Names reach the
 * scripts only as KEYS and ARGV.
 *
 * `ACQUIRE` and `RELEASE` start with a fast path for the uncontended case
 * (nobody queues; nobody else holds), between `PRELUDE_HEAD` and
 * `PRELUDE_REST`: with the same effects as the general path, it skips
 * defining the helpers it does not need and the look-ups whose answer it
 * knows (nothing to reap, nothing to serve, the caller's weight).
 *
 * @module
 */
import { Script } from "../client/script.ts";
import type { StoredLockKind } from "./keys.ts";
import { lockScript, PRELUDE } from "./prelude.ts";

/** ACQUIRE's uncontended fast path (after `PRELUDE_HEAD`). */
const ACQUIRE_FAST = `
-- The fast path: nobody holds and nobody queues (Redis deletes an empty
-- set), so nothing to reap or serve, and the caller (fresh or not) neither
-- holds nor queues: the same checks and the same grant as the general path
-- below (grant() to the sole holder).
-- A mutex (kind '0') takes it only where no meta is stored either (a
-- semaphore's name: the general path compares the counts), in the same call.
local kind = ARGV[9]
local busy
if kind == '0' then
  busy = redis.call('EXISTS', queue, holders, meta)
else
  busy = redis.call('EXISTS', queue, holders)
end
if busy == 0 and tonumber(ARGV[3]) <= tonumber(ARGV[2]) then
  local id, limit, lease_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
  if kind ~= '0' then
    local stored = redis.call('HGET', meta, 'permits')
    if stored and tonumber(stored) ~= limit then
      return {-1, tonumber(stored)}
    end
    if not stored then
      redis.call('HSET', meta, 'permits', limit, 'kind', kind)
    end
    keep_idle(meta, tonumber(ARGV[7]))
  end
  local now, now_us = clock()
  local token, text = next_token(now_us)
  redis.call('ZADD', holders, fmt(now + lease_ms), id)
  own_alone(id, ARGV[3], text, ARGV[11])
  -- ARGV[4] is lease_ms as text: Redis formats no number.
  redis.call('PEXPIRE', holders, ARGV[4])
  keep_owners(lease_ms)
  return token
end
`;

/** ACQUIRE's general path (after the whole prelude). */
const ACQUIRE_BODY = `
local id = ARGV[1]
local limit = tonumber(ARGV[2])
local weight = tonumber(ARGV[3])
local lease_ms = tonumber(ARGV[4])
local mode = ARGV[5]
local waiter_ttl = tonumber(ARGV[6])
local idle_ttl = tonumber(ARGV[7])
local wake_prefix = ARGV[8]
local kind = ARGV[9] -- '0': a mutex (no meta), else the kind meta records
local fresh = ARGV[10] == '1'
local note = ARGV[11] or ''

local stored = redis.call('HGET', meta, 'permits')
if stored and tonumber(stored) ~= limit then
  return {-1, tonumber(stored)}
end
if kind ~= '0' then
  if not stored then redis.call('HSET', meta, 'permits', limit, 'kind', kind) end
  keep_idle(meta, idle_ttl)
end

local now, now_us = clock()
local queued = reap_and_serve(limit, now, now_us, wake_prefix)

-- A first call cannot hold or queue already: skip those look-ups.
if not fresh then
  local expiry = redis.call('ZSCORE', holders, id)
  if expiry then
    -- Granted while waiting (its wake message, if not read yet, is dropped
    -- by its hub once this acquire is done).
    local token = string.match(redis.call('HGET', owners, id) or '', '^(%d+):')
    if token then return {1, tonumber(token), tonumber(expiry) - now} end
    -- Its owners entry is gone (evicted: a volatile-* policy): the grant
    -- is lost; drop it and go on as a waiter that holds nothing.
    drop_holder(id)
  end
end

if fresh or not redis.call('ZSCORE', queue, id) then
  if queued == 0 and used() + weight <= limit then
    local token = grant(id, lease_ms, weight, now, now_us, note)
    return token
  end
  -- A poller barges in while nobody queues; once others queue ahead of it,
  -- it joins the line too (else it would starve behind blocking waiters),
  -- refreshes its heartbeat with every poll, and takes its grant at its
  -- next poll.
  if mode == 'try' or (mode == 'poll' and queued == 0) then
    local first = redis.call('ZRANGE', holders, 0, 0, 'WITHSCORES')[2]
    return {0, first and (tonumber(first) - now) or -1, -1, now}
  end
  redis.call('ZADD', queue, now_us, id)
  redis.call('HSET', wants, id, weight .. ':' .. lease_ms)
  if note ~= '' then redis.call('HSET', wants, 'meta:' .. id, note) end
end
redis.call('ZADD', waiters, now + waiter_ttl, id)
local rank = 0
if queued == 0 then
  -- The queue was empty: the caller just joined it, alone, so the three
  -- keys hold its entries only (Redis deleted them when they emptied):
  -- their TTLs are set, not read first, and its rank is 0.
  redis.call('PEXPIRE', queue, ARGV[6])
  redis.call('PEXPIRE', waiters, ARGV[6])
  redis.call('PEXPIRE', wants, ARGV[6])
else
  keep(queue, waiter_ttl)
  keep(waiters, waiter_ttl)
  keep(wants, waiter_ttl)
  rank = redis.call('ZRANK', queue, id)
end

-- Only the waiters next in line need to wake when a holder's lease ends.
local wake = -1
if rank < limit then
  local first = redis.call('ZRANGE', holders, 0, 0, 'WITHSCORES')[2]
  if first then wake = tonumber(first) - now end
end
return {0, wake, rank, now}
`;

/**
 * RELEASE's fast paths (after `PRELUDE_HEAD`): uncontended, and a hand-off
 * to a single waiter.
 */
const RELEASE_FAST = `
-- (EXISTS, ZCARD and ZSCORE: calls whose replies are cheap to hand to
-- Lua; a ZRANGE costs more even on an empty key.)
local queued = redis.call('EXISTS', queue) == 1
-- With one permit (a mutex, a Semaphore(1)) at most one holds: a grant
-- reaps the ended holders first, and weights are at least 1.
local holding = ARGV[2] == '1' and 1 or redis.call('ZCARD', holders)
-- The fast path: nobody queues and at most one holds (the caller, or
-- someone else): the same effects as the general path below.
if not queued and holding <= 1 then
  local id = ARGV[1]
  local expiry = holding == 1 and redis.call('ZSCORE', holders, id) or nil
  if not expiry then
    redis.call('HDEL', owners, id, 'meta:' .. id)
    return 0
  end
  local now = clock()
  -- The last holder: owners keeps only the last token.
  redis.call('DEL', holders)
  redis.call('HDEL', owners, id, 'meta:' .. id, '#used')
  return (tonumber(expiry) > now) and 1 or -1
end
-- The hand-off fast path: the caller is the only holder, and the live
-- waiter at the head of the queue takes every permit (a mutex), or is the
-- only one queued. The general path below would drop the caller, find
-- nobody else to reap among the holders, and grant the head alone, with
-- the same effects (it would also reap dead waiters further back in the
-- queue, which a later call does instead).
-- (The first two of the queue: whether the head is alone in it.)
local first = queued and holding == 1 and redis.call('ZRANGE', queue, 0, 1)
local head = first and first[1]
if head and head ~= ARGV[1] then
  local alone = first[2] == nil
  local id = ARGV[1]
  local expiry = redis.call('ZSCORE', holders, id)
  local want = redis.call('HMGET', wants, head, 'meta:' .. head)
  local weight, lease_ms = string.match(want[1] or '', '^(%d+):(%d+)$')
  weight, lease_ms = tonumber(weight), tonumber(lease_ms)
  -- One permit given (a mutex, a Semaphore(1)): the caller holds, so no
  -- other count is stored (its acquire would have been refused).
  local limit = ARGV[2] == '1' and 1
    or tonumber(redis.call('HGET', meta, 'permits') or ARGV[2])
  if expiry and weight and weight <= limit
    and (weight == limit or alone) then
    local now, now_us = clock()
    local beat = tonumber(redis.call('ZSCORE', waiters, head) or '0')
    if beat > now then
      -- As serve(): a grant lasts no longer than its waiter's heartbeat.
      if beat < now + lease_ms then lease_ms = beat - now end
      local token, text = next_token(now_us)
      -- The caller was the only holder; the head is now the only holder
      -- (as grant()).
      redis.call('DEL', holders)
      redis.call('HDEL', owners, id, 'meta:' .. id)
      local ends = fmt(now + lease_ms)
      redis.call('ZADD', holders, ends, head)
      own_alone(head, weight, text, want[2])
      redis.call('PEXPIRE', holders, lease_ms)
      keep_owners(lease_ms)
      if alone then
        -- Its entries were the only ones in the three keys (what the
        -- general path leaves too: Redis deletes a key once it is empty).
        redis.call('DEL', queue, waiters, wants)
      else
        redis.call('ZREM', queue, head)
        redis.call('ZREM', waiters, head)
        redis.call('HDEL', wants, head, 'meta:' .. head)
      end
      wake(ARGV[3], head, text .. ':' .. ends, lease_ms)
      return (tonumber(expiry) > now) and 1 or -1
    end
  end
end
`;

/** RELEASE's general path (after the whole prelude). */
const RELEASE_BODY = `
local id = ARGV[1]
local given_limit = tonumber(ARGV[2])
local wake_prefix = ARGV[3]
local now, now_us = clock()

local result = 0
local expiry = drop_holder(id)
if expiry then result = (tonumber(expiry) > now) and 1 or -1 end
-- Nobody queues: nothing to hand on (the fast path).
if redis.call('ZCARD', queue) > 0 then
  if redis.call('ZREM', queue, id) == 1 then result = 2 end
  redis.call('ZREM', waiters, id)
  redis.call('HDEL', wants, id, 'meta:' .. id)
  reap_and_serve(limit_of(given_limit), now, now_us, wake_prefix)
end
return result
`;

/** ARGV of {@linkcode ACQUIRE} but `note`, which may be left out. */
export type AcquireArgs = [
  id: string,
  limit: number,
  weight: number,
  leaseMs: number,
  mode: "try" | "wait" | "poll",
  waiterTtlMs: number,
  idleTtlMs: number,
  wakePrefix: string,
  kind: "0" | StoredLockKind,
  fresh: "1" | "0",
];

/**
 * Takes a permit, or queues for one, or reports the grant a waiter got.
 *
 * KEYS: holders, owners, queue, waiters, wants, meta.
 * ARGV: id, limit, weight, leaseMs, mode ("try": never queue; "wait":
 * queue; "poll": queue only behind others), waiterTtlMs, idleTtlMs (of
 * `meta`; 0 for a mutex), wakePrefix,
 * kind ("0" for a mutex, which writes no `meta`; else the kind `meta`
 * records with the count when it writes it: "semaphore" or
 * "read-write-lock"), fresh ("1" on the first call for this
 * id: it cannot hold or queue yet), note (the acquisition's `meta`, "" for
 * none: stored with the grant, or with the queue entry until it is granted).
 * Returns the token alone (an integer) when it grants the caller a whole
 * lease now (the common case: one integer is the cheapest reply to hand
 * back), `{1, token, leaseLeftMs}` when the caller holds the permit already
 * (granted while it waited), `{0, wakeInMs, rank, serverNowMs}` when not (wakeInMs -1: no holder to
 * expire; rank -1 when not queued), `{-1, permits}` when the stored count
 * differs. A grant wakes the waiter with `id|token:leaseEndMs` on the wake
 * list of its client's hub.
 */
export const ACQUIRE: Script<
  AcquireArgs | [...AcquireArgs, note: string],
  | number
  | [granted: 1, token: number, leaseLeftMs: number]
  | [granted: 0, wakeInMs: number, rank: number, serverNowMs: number]
  | [mismatch: -1, permits: number]
> = lockScript("acquire", ACQUIRE_FAST, ACQUIRE_BODY);

/**
 * Gives a permit back, or leaves the queue (an aborted acquire), and hands
 * free permits to the next waiters.
 *
 * KEYS: as {@linkcode ACQUIRE}. ARGV: id, limit, wakePrefix.
 * Returns 1 (was held), -1 (was held but its lease had ended), 2 (was only
 * queued), 0 (neither: released before, or lost and reaped).
 */
export const RELEASE: Script<
  [id: string, limit: number, wakePrefix: string],
  1 | -1 | 2 | 0
> = lockScript("release", RELEASE_FAST, RELEASE_BODY);

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

/** The scripts of {@linkcode generalPaths}, made on first use. */
let general:
  | { acquire: Script<string[], unknown>; release: Script<string[], unknown> }
  | undefined;

/**
 * {@linkcode ACQUIRE} and {@linkcode RELEASE} without their fast paths, for
 * tests that check the fast paths have the same effects as the general ones
 * (made on first call: nothing else pays for hashing them).
 */
export function generalPaths(): {
  acquire: Script<string[], unknown>;
  release: Script<string[], unknown>;
} {
  return general ??= {
    acquire: new Script(PRELUDE + ACQUIRE_BODY, {
      keys: 6,
      name: "acquire-general",
    }),
    release: new Script(PRELUDE + RELEASE_BODY, {
      keys: 6,
      name: "release-general",
    }),
  };
}
