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

-- Wakes waiter id ('<hubId>.<n>') with message. Its client's wake hub
-- watches wake_prefix .. hubId: for a one-server client, a list that the
-- hub BLMPOPs ('id|message' appended; wake_prefix is 'prefix:wake:', one
-- list per hub for all primitives, not a KEYS entry: no slots to respect
-- there); for a cluster client's hub (its id starts with '~') the sharded
-- pub/sub channel 'prefix:{name}:wake:' .. hubId, in the primitive's slot,
-- which touches no key, or, where the server has no SPUBLISH (before Redis
-- 7.0, or denied by ACL), the list of that name, which the hub then polls.
-- The caller's client passes wake_prefix, and every client of one server
-- uses the same rule.
local function wake(wake_prefix, id, message, ttl)
  local hub = string.match(id, '^(.-)%.')
  if not hub then return end
  local list = wake_prefix .. hub
  if string.byte(hub, 1) == 126 then
    local sent = redis.pcall('SPUBLISH', list, id .. '|' .. message)
    if type(sent) ~= 'table' or not sent.err then return end
  end
  -- A new list (the hub popped the last one) has no TTL yet: set it.
  if redis.call('RPUSH', list, id .. '|' .. message) == 1 then
    redis.call('PEXPIRE', list, ttl)
  else
    keep(list, ttl)
  end
end
`;
