/**
 * The Lua scripts of the events: `ManualResetEvent` (a flag, listeners by
 * heartbeat, wakes through each listener's client hub) and `AutoResetEvent`
 * (queued signals, and a FIFO of takers that a `set()` hands a signal to).
 * Names reach the scripts only as KEYS and ARGV.
 *
 * @module
 */
import { Script } from "../client/script.ts";
import { LUA_BASICS } from "../_internal/lua.ts";

/**
 * ManualResetEvent.wait: passes at once when the event is set (or when a
 * `set()` woke this waiter: a re-check after its wake message was lost),
 * else registers (or refreshes) the caller as a listener.
 *
 * KEYS: state, listeners, woken. ARGV: id, listenerTtlMs.
 * Returns 1 when set (or woken), 0 when the caller must wait for its wake.
 */
export const EVENT_WAIT: Script<[id: string, listenerTtlMs: number], 0 | 1> =
  new Script(
    LUA_BASICS + `
local state = KEYS[1]
local listeners = KEYS[2]
local woken = KEYS[3]
local id = ARGV[1]
local ttl = tonumber(ARGV[2])
if redis.call('EXISTS', state) == 1 or redis.call('SREM', woken, id) == 1 then
  redis.call('ZREM', listeners, id)
  return 1
end
local now = clock()
redis.call('ZREMRANGEBYSCORE', listeners, '-inf', now)
redis.call('ZADD', listeners, now + ttl, id)
keep(listeners, ttl)
return 0
`,
    { keys: 3, name: "eventWait" },
  );

/**
 * ManualResetEvent.set: sets the state and wakes every live listener
 * through its client's wake hub; each is also noted in `woken` (TTL
 * `wakeTtlMs`) so that a waiter whose wake message was lost with its
 * connection still passes when it re-checks.
 *
 * KEYS: state, listeners, woken. ARGV: stateTtlMs, wakePrefix, wakeTtlMs.
 * Returns the number of listeners woken.
 */
export const EVENT_SET: Script<
  [stateTtlMs: number, wakePrefix: string, wakeTtlMs: number],
  number
> = new Script(
  LUA_BASICS + `
local state = KEYS[1]
local listeners = KEYS[2]
local woken = KEYS[3]
local state_ttl = tonumber(ARGV[1])
local wake_prefix = ARGV[2]
local wake_ttl = tonumber(ARGV[3])
redis.call('SET', state, '1', 'PX', state_ttl)
local now = clock()
local ids = redis.call('ZRANGEBYSCORE', listeners, '(' .. now, '+inf')
for i = 1, #ids do
  wake(wake_prefix, ids[i], '1', wake_ttl)
  redis.call('SADD', woken, ids[i])
end
if #ids > 0 then keep(woken, wake_ttl) end
redis.call('DEL', listeners)
return #ids
`,
  { keys: 3, name: "eventSet" },
);

/**
 * Reads a ManualResetEvent's state.
 *
 * KEYS: state, listeners. Returns `{isSet, liveListeners, pttlState,
 * pttlListeners}`.
 */
export const EVENT_INFO: Script<
  [],
  [isSet: 0 | 1, listeners: number, pttlState: number, pttlListeners: number]
> = new Script(
  LUA_BASICS + `
local now = clock()
return {
  redis.call('EXISTS', KEYS[1]),
  redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf'),
  redis.call('PTTL', KEYS[1]),
  redis.call('PTTL', KEYS[2]),
}
`,
  { keys: 2, name: "eventInfo" },
);

/** Lua shared by the AutoResetEvent scripts; KEYS bound first. */
const AUTO_PRELUDE = `
local signals = KEYS[1]
local takers = KEYS[2]
local heartbeats = KEYS[3]
local granted = KEYS[4]
` + LUA_BASICS + `
local function leave(id)
  redis.call('ZREM', takers, id)
  redis.call('ZREM', heartbeats, id)
end

-- Hands one signal on: to the first taker in line (a grant it must claim
-- within claim_ms, else it comes back), or into the list (front: at the
-- head, for a signal given back). Returns 1 handed or kept, 0 list full.
local function hand_on(now, wake_prefix, claim_ms, max, front, ttl)
  local head = redis.call('ZRANGE', takers, 0, 0)[1]
  if head then
    leave(head)
    redis.call('HSET', granted, head, now + claim_ms)
    keep(granted, claim_ms)
    wake(wake_prefix, head, '1', claim_ms)
    return 1
  end
  if front then
    redis.call('LPUSH', signals, '1')
    if redis.call('PTTL', signals) < 0 then redis.call('PEXPIRE', signals, ttl) end
  else
    if redis.call('LLEN', signals) >= max then return 0 end
    redis.call('RPUSH', signals, '1')
  end
  return 1
end

-- Drops takers whose heartbeat lapsed, and takes back grants nobody
-- claimed in time (their taker died): each goes to the next taker.
local function reap(now, wake_prefix, claim_ms, ttl)
  local gone = redis.call('ZRANGEBYSCORE', heartbeats, '-inf', now)
  for i = 1, #gone do leave(gone[i]) end
  if redis.call('EXISTS', granted) == 0 then return end
  local flat = redis.call('HGETALL', granted)
  for i = 1, #flat, 2 do
    if tonumber(flat[i + 1]) <= now then
      redis.call('HDEL', granted, flat[i])
      hand_on(now, wake_prefix, claim_ms, 0, true, ttl)
    end
  end
end
`;

/** Arguments every AutoResetEvent script ends with. */
type AutoArgs = [
  wakePrefix: string,
  claimMs: number,
  max: number,
  ttlMs: number,
];

/**
 * AutoResetEvent.set: hands one signal to the first taker in line, or
 * queues it unless `max` are pending, and refreshes the list's TTL.
 *
 * KEYS: signals, takers, heartbeats, granted. ARGV: wakePrefix, claimMs,
 * max, ttlMs. Returns 1 when handed on or queued, 0 when the list was full.
 */
export const SIGNAL_SET: Script<AutoArgs, 0 | 1> = new Script(
  AUTO_PRELUDE + `
local wake_prefix = ARGV[1]
local claim_ms = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local now = clock()
reap(now, wake_prefix, claim_ms, ttl)
local result = hand_on(now, wake_prefix, claim_ms, max, false, ttl)
if redis.call('EXISTS', signals) == 1 then redis.call('PEXPIRE', signals, ttl) end
return result
`,
  { keys: 4, name: "signalSet" },
);

/**
 * AutoResetEvent.wait: takes the caller's grant or a queued signal, else
 * queues the caller (FIFO by server time) or refreshes its heartbeat.
 *
 * KEYS: signals, takers, heartbeats, granted. ARGV: id, wakePrefix,
 * waiterTtlMs (also the claim window), max, ttlMs. Returns 1 when a signal
 * was taken, 0 when queued.
 */
export const SIGNAL_TAKE: Script<[id: string, ...AutoArgs], 0 | 1> = new Script(
  AUTO_PRELUDE + `
local id = ARGV[1]
local wake_prefix = ARGV[2]
local waiter_ttl = tonumber(ARGV[3])
local ttl = tonumber(ARGV[5])
local now, now_us = clock()
reap(now, wake_prefix, waiter_ttl, ttl)
if redis.call('HDEL', granted, id) == 1 then
  leave(id)
  return 1
end
-- Signals wait in the list only while nobody queues.
if redis.call('ZCARD', takers) == 0 and redis.call('LPOP', signals) then
  return 1
end
redis.call('ZADD', takers, 'NX', now_us, id)
redis.call('ZADD', heartbeats, now + waiter_ttl, id)
keep(takers, waiter_ttl)
keep(heartbeats, waiter_ttl)
return 0
`,
  { keys: 4, name: "signalTake" },
);

/**
 * AutoResetEvent: an aborted wait leaves. A grant it had (or, with `had`
 * = "1", a signal it had already taken) goes to the next taker or back to
 * the head of the list: a signal is consumed only by a wait that resolves.
 *
 * KEYS: signals, takers, heartbeats, granted. ARGV: id, had, wakePrefix,
 * claimMs, max, ttlMs. Returns 1 when a signal was given back.
 */
export const SIGNAL_UNDO: Script<
  [id: string, had: "1" | "0", ...AutoArgs],
  0 | 1
> = new Script(
  AUTO_PRELUDE + `
local id = ARGV[1]
local had = ARGV[2] == '1'
local wake_prefix = ARGV[3]
local claim_ms = tonumber(ARGV[4])
local ttl = tonumber(ARGV[6])
leave(id)
if redis.call('HDEL', granted, id) == 1 or had then
  local now = clock()
  hand_on(now, wake_prefix, claim_ms, 0, true, ttl)
  return 1
end
return 0
`,
  { keys: 4, name: "signalUndo" },
);

/** What {@linkcode MANUAL_INSPECT} answers. */
export type ManualInspectReply = [
  serverTime: number,
  isSet: 0 | 1,
  listeners: number,
  ttls: number[],
];

/**
 * Reads a ManualResetEvent's state without changing it (`inspectEvent()`,
 * the CLI).
 *
 * KEYS: state, listeners, woken. ARGV: none. Returns `{now, isSet,
 * liveListeners, ttls}`: ttls holds the PTTL of each key.
 */
export const MANUAL_INSPECT: Script<[], ManualInspectReply> = new Script(
  `
local state = KEYS[1]
local listeners = KEYS[2]
` + LUA_BASICS + `
local now = clock()
local ttls = {}
for i = 1, #KEYS do ttls[i] = redis.call('PTTL', KEYS[i]) end
return {now, redis.call('EXISTS', state),
  redis.call('ZCOUNT', listeners, '(' .. now, '+inf'), ttls}
`,
  { keys: 3, name: "manualInspect" },
);

/** What {@linkcode AUTO_INSPECT} answers. */
export type AutoInspectReply = [
  serverTime: number,
  pending: number,
  takers: number,
  granted: number,
  ttls: number[],
];

/**
 * Reads an AutoResetEvent's state without changing it (`inspectEvent()`,
 * the CLI).
 *
 * KEYS: signals, takers, heartbeats, granted. ARGV: none. Returns `{now,
 * pending, liveTakers, granted, ttls}`: signals queued, takers in line
 * with a live heartbeat, signals handed to a taker and not claimed yet,
 * and the PTTL of each key.
 */
export const AUTO_INSPECT: Script<[], AutoInspectReply> = new Script(
  `
local signals = KEYS[1]
local heartbeats = KEYS[3]
local granted = KEYS[4]
` + LUA_BASICS + `
local now = clock()
local ttls = {}
for i = 1, #KEYS do ttls[i] = redis.call('PTTL', KEYS[i]) end
return {now, redis.call('LLEN', signals),
  redis.call('ZCOUNT', heartbeats, '(' .. now, '+inf'),
  redis.call('HLEN', granted), ttls}
`,
  { keys: 4, name: "autoInspect" },
);
