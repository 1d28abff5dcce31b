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

-- Makes sure key lives at least ms more (never shortens a TTL); when it
-- must be lengthened, to upto (default ms): a margin above ms spares a
-- key in steady use a PEXPIRE on every call. A missing key is left alone.
local function keep(key, ms, upto)
  local ttl = redis.call('PTTL', key)
  if ttl ~= -2 and ttl < ms then
    redis.call('PEXPIRE', key, upto or ms)
  end
end

-- Wakes waiter id ('<hubId>.<n>') with message: publishes 'id|message'
-- on the channel wake_prefix .. hubId, which its client's wake hub
-- subscribes to. Pub/sub touches no key, so every key a script touches
-- stays in its KEYS (servers that lock declared keys, Dragonfly's default,
-- run it). One-server and Sentinel clients: PUBLISH on 'prefix:wake:' ..
-- hubId, one channel per hub for every primitive. A cluster client's hub
-- (its id starts with '~'): SPUBLISH on 'prefix:{name}:wake:' .. hubId,
-- in the primitive's slot, or, where the node has no SPUBLISH (before
-- Redis 7.0, renamed or denied), PUBLISH on that channel, which the
-- cluster bus takes to every node. Both through pcall: a publish the
-- server refuses (an ACL without the channel) never stops the script
-- halfway, and the waiter finds its grant in Redis at its next re-check.
-- Pub/sub keeps nothing: the hub makes its waiters re-check Redis once
-- a subscription is confirmed and whenever one is lost. The caller's
-- client passes wake_prefix; ttl is not used (messages are not stored).
local function wake(wake_prefix, id, message, ttl)
  local hub = string.match(id, '^(.-)%.')
  if not hub then return end
  local channel = wake_prefix .. hub
  local text = id .. '|' .. message
  if string.byte(hub, 1) == 126 then
    local sent = redis.pcall('SPUBLISH', channel, text)
    if type(sent) ~= 'table' or not sent.err then return end
  end
  redis.pcall('PUBLISH', channel, text)
end
`;
