/**
 * Lua helpers that every script of the library starts with: the one server
 * clock (`clock()`, from `TIME`, never a client's clock) and TTL upkeep that
 * only ever lengthens a key's life (`keep()`).
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
`;
