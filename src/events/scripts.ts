/**
 * The Lua scripts of the events: `ManualResetEvent` (a flag, listeners by
 * heartbeat, one wake list per waiter) and `AutoResetEvent` (a list of
 * queued signals). Names reach the scripts only as KEYS and ARGV.
 *
 * @module
 */
import { Script } from "../client/script.ts";
import { LUA_BASICS } from "../_internal/lua.ts";

/**
 * ManualResetEvent.wait: passes at once when the event is set, else
 * registers (or refreshes) the caller as a listener.
 *
 * KEYS: state, listeners. ARGV: id, listenerTtlMs.
 * Returns 1 when set, 0 when the caller must wait for its wake list.
 */
export const EVENT_WAIT: Script<[id: string, listenerTtlMs: number], 0 | 1> =
  new Script(
    LUA_BASICS + `
local state = KEYS[1]
local listeners = KEYS[2]
local id = ARGV[1]
local ttl = tonumber(ARGV[2])
if redis.call('EXISTS', state) == 1 then
  redis.call('ZREM', listeners, id)
  return 1
end
local now = clock()
redis.call('ZREMRANGEBYSCORE', listeners, '-inf', now)
redis.call('ZADD', listeners, now + ttl, id)
keep(listeners, ttl)
return 0
`,
    { keys: 2, name: "eventWait" },
  );

/**
 * ManualResetEvent.set: sets the state and wakes every live listener, each
 * on its own list (one entry, with a TTL).
 *
 * KEYS: state, listeners. ARGV: stateTtlMs, wakePrefix, wakeTtlMs.
 * Returns the number of listeners woken.
 */
export const EVENT_SET: Script<
  [stateTtlMs: number, wakePrefix: string, wakeTtlMs: number],
  number
> = new Script(
  LUA_BASICS + `
local state = KEYS[1]
local listeners = KEYS[2]
local state_ttl = tonumber(ARGV[1])
local wake_prefix = ARGV[2]
local wake_ttl = tonumber(ARGV[3])
redis.call('SET', state, '1', 'PX', state_ttl)
local now = clock()
local ids = redis.call('ZRANGEBYSCORE', listeners, '(' .. now, '+inf')
for i = 1, #ids do
  local list = wake_prefix .. ids[i]
  redis.call('DEL', list)
  redis.call('RPUSH', list, '1')
  redis.call('PEXPIRE', list, wake_ttl)
end
redis.call('DEL', listeners)
return #ids
`,
  { keys: 2, name: "eventSet" },
);

/**
 * AutoResetEvent.set: queues one signal unless `max` are pending; `front`
 * puts it back at the head (a wait that was aborted after it popped one).
 *
 * KEYS: signals. ARGV: max, ttlMs, front ("1" | "0").
 * Returns 1 when queued, 0 when the queue was full.
 */
export const SIGNAL_PUSH: Script<
  [max: number, ttlMs: number, front: "1" | "0"],
  0 | 1
> = new Script(
  `
local signals = KEYS[1]
local max = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
if ARGV[3] ~= '1' and redis.call('LLEN', signals) >= max then return 0 end
if ARGV[3] == '1' then
  redis.call('LPUSH', signals, '1')
else
  redis.call('RPUSH', signals, '1')
end
redis.call('PEXPIRE', signals, ttl)
return 1
`,
  { keys: 1, name: "signalPush" },
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
