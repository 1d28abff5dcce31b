/**
 * Lua helpers that every script of the library starts with: the one server
 * clock (`clock()`, from `TIME`, never a client's clock), TTL upkeep that
 * only ever lengthens a key's life (`keep()`), and `wake()`, which hands a
 * message to a waiter through its client's wake hub.
 *
 * @module
 */

/** Prepended to every script, after the script binds its KEYS. */
export const LUA_BASICS = `
-- The server's clock: milliseconds and microseconds since the epoch.
local function clock()
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  return s * 1000 + math.floor(us / 1000), s * 1000000 + us
end

-- Makes sure key lives at least ms more (never shortens a TTL).
local function keep(key, ms)
  local ttl = redis.call('PTTL', key)
  if ttl == -1 or (ttl >= 0 and ttl < ms) then
    redis.call('PEXPIRE', key, ms)
  end
end

-- Wakes waiter id ('<hubId>.<n>') with message: appends 'id|message' to
-- its client's wake list for this primitive, wake_prefix .. hubId, which
-- that client's wake hub BLMPOPs. Same hash slot as the primitive. A
-- cluster client's hub ('~' first) watches the list through sharded
-- pub/sub instead: the list's own channel announces the message.
local function wake(wake_prefix, id, message, ttl)
  local hub = string.match(id, '^(.-)%.')
  if not hub then return end
  local list = wake_prefix .. hub
  redis.call('RPUSH', list, id .. '|' .. message)
  keep(list, ttl)
  if string.byte(hub, 1) == 126 then redis.call('SPUBLISH', list, '') end
end
`;
