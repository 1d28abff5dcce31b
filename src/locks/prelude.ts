/**
 * The Lua every lock script starts with: it binds the six KEYS to named
 * locals and defines the shared helpers (permits in use as a running total,
 * fencing tokens, grants, reaping, serving the queue in order). The scripts
 * themselves are in `scripts.ts`.
 *
 * It comes in two parts, `PRELUDE_HEAD` then `PRELUDE_REST`: `ACQUIRE` and
 * `RELEASE` put their uncontended fast path between the two, so that the
 * common case does not pay for defining the helpers it does not use (a Lua
 * script re-creates every local function on each run: about 2 us of Redis
 * time per script, of 10-20).
 *
 * @module
 */
import { LUA_BASICS } from "../_internal/lua.ts";
import { asFunction, Script } from "../client/script.ts";
import type { RedisArg } from "../resp/types.ts";
import { SCRIPT_KEYS as KEY_NAMES } from "./keys.ts";

/**
 * How long a primitive's `owners` hash, which keeps its last fencing token,
 * lives at least after each grant, in ms: tokens increase across an idle
 * gap longer than this only through the server clock (see `next_token()`).
 */
export const TOKEN_WINDOW_MS = 60_000;

/**
 * The KEYS bound to named locals, `clock()`, `keep()`, `wake()`, `fmt()`,
 * the fencing tokens (`next_token()`, `entry_of()`), `own_alone()` and
 * `keep_owners()`: all that the fast paths use.
 */
export const PRELUDE_HEAD: string = `
local holders = KEYS[1]
local owners = KEYS[2]
local queue = KEYS[3]
local waiters = KEYS[4]
local wants = KEYS[5]
local meta = KEYS[6]
` + helpersHead();

/** The helpers of {@linkcode PRELUDE_HEAD}, without the KEYS. */
function helpersHead(): string {
  return LUA_BASICS + `
-- A whole number as text (a token, a lease end), for redis.call and the
-- wake message: '%d' (a C long) where that holds 2^53 (every 64-bit build),
-- else '%.0f'. A number passed to redis.call as is gets Redis's '%.17g',
-- and '%.0f' costs more still (float formatting: about 0.4 and 0.8 us
-- against 0.3); Lua's own tostring() rounds to 14 digits.
-- (Found on first use: a Redis Function library's load-time code has no
-- string library.)
local INT
local function fmt(n)
  INT = INT or (string.format('%d', 2^53) == '9007199254740992' and '%d' or '%.0f')
  return string.format(INT, n)
end

-- Fencing tokens: strictly increasing, and never below the server clock in
-- microseconds. The last one is owners['#token'], written by the grant's
-- own HSET (no key of its own); owners lives at least TOKEN_WINDOW ms after
-- every grant (keep_owners), so once it is gone the clock alone is above
-- every token issued, unless it went back by more than that window.
-- Returns the token and its text.
local function next_token(now_us)
  local last = tonumber(redis.call('HGET', owners, '#token') or '0')
  local token = math.max(last + 1, now_us)
  return token, fmt(token)
end

-- A holder's owners entry from its token's text: 'token:weight', the one
-- format every version reads (a mixed deployment runs older scripts too).
local function entry_of(text, weight)
  return text .. ':' .. weight
end

-- The owners hash of a sole holder, in one HSET: its entry, the total (its
-- weight), the last token (text: its token's), and its meta when given
-- (note: false/nil/'' for none). The one place that writes them together:
-- the grant of the general path and both fast paths.
local function own_alone(id, weight, text, note)
  if note and note ~= '' then
    redis.call('HSET', owners, '#used', weight, id, entry_of(text, weight),
      '#token', text, 'meta:' .. id, note)
  else
    redis.call('HSET', owners, '#used', weight, id, entry_of(text, weight),
      '#token', text)
  end
end

-- As keep(), for a long idle TTL (a semaphore's meta, ms in 1 s..24.8
-- days): lengthened to ms only once it has fallen 1% (at most a minute)
-- short of it, so a name in steady use pays one PTTL, not a PEXPIRE too.
local function keep_idle(key, ms)
  keep(key, ms - math.min(ms / 100, 60000), ms)
end

-- Makes owners live at least max(ms, the token window); when it must be
-- lengthened, one window more, so that a name in steady use pays one PTTL
-- per grant, not a PEXPIRE too.
local function keep_owners(ms)
  local need = math.max(ms, ${TOKEN_WINDOW_MS})
  keep(owners, need, need + ${TOKEN_WINDOW_MS})
end
`;
}

/** The other helpers: holders, the running total, grants, the queue. */
export const PRELUDE_REST: string = `
-- The weight an owners entry records ('token:weight'; 1 if lost).
local function weight_of(id)
  local value = redis.call('HGET', owners, id)
  return tonumber(string.match(value or '', ':(%d+)$')) or 1
end

-- Permits in use: the sum of the holders' weights, kept as a running total
-- in owners['#used'] (updated by grant and drop_holder), so no call walks
-- the holders. The holders set is the truth: no holder, nothing used (a
-- total left behind counts nothing); a missing total (data written by an
-- older version, or an evicted owners hash) is counted once and stored.
local function used()
  if redis.call('ZCARD', holders) == 0 then return 0 end
  local total = redis.call('HGET', owners, '#used')
  if total then return tonumber(total) end
  total = 0
  local ids = redis.call('ZRANGE', holders, 0, -1)
  for from = 1, #ids, 1000 do
    local to = math.min(from + 999, #ids)
    local values = redis.call('HMGET', owners, unpack(ids, from, to))
    for i = 1, #values do
      total = total + (tonumber(string.match(values[i] or '', ':(%d+)$')) or 1)
    end
  end
  redis.call('HSET', owners, '#used', total)
  return total
end

-- Removes id from the holders (its weight from the total, its meta with
-- it). Returns its lease end, or nil when it did not hold.
local function drop_holder(id)
  local expiry = redis.call('ZSCORE', holders, id)
  if not expiry then
    redis.call('HDEL', owners, id, 'meta:' .. id)
    return nil
  end
  local weight = weight_of(id)
  redis.call('ZREM', holders, id)
  if redis.call('ZCARD', holders) == 0 then
    -- The last holder: owners keeps only the last token.
    redis.call('HDEL', owners, id, 'meta:' .. id, '#used')
  else
    redis.call('HDEL', owners, id, 'meta:' .. id)
    local total = redis.call('HGET', owners, '#used')
    if total then redis.call('HSET', owners, '#used', tonumber(total) - weight) end
  end
  return expiry
end

-- Adds a holder; note: its meta (owners['meta:' .. id]), false/'' for none.
-- Returns its token and the token's text.
local function grant(id, lease_ms, weight, now, now_us, note)
  if note and note ~= '' then redis.call('HSET', owners, 'meta:' .. id, note) end
  local token, text = next_token(now_us)
  if redis.call('ZADD', holders, fmt(now + lease_ms), id) == 1 then
    if redis.call('ZCARD', holders) == 1 then
      -- The only holder (the uncontended path): holders lives as long as
      -- this lease, and the total is this grant's weight.
      own_alone(id, weight, text)
      redis.call('PEXPIRE', holders, lease_ms)
      keep_owners(lease_ms)
      return token, text
    else
      local total = redis.call('HGET', owners, '#used')
      if total then redis.call('HSET', owners, '#used', tonumber(total) + weight) end
    end
  end
  redis.call('HSET', owners, id, entry_of(text, weight), '#token', text)
  keep(holders, lease_ms)
  keep_owners(lease_ms)
  return token, text
end

local function forget_waiter(id)
  redis.call('ZREM', queue, id)
  redis.call('ZREM', waiters, id)
  redis.call('HDEL', wants, id, 'meta:' .. id)
end

-- Drops holders whose lease ended.
local function reap_holders(now)
  local dead = redis.call('ZRANGEBYSCORE', holders, '-inf', now)
  for i = 1, #dead do drop_holder(dead[i]) end
end

-- Drops waiters whose heartbeat stopped.
local function reap_waiters(now)
  local gone = redis.call('ZRANGEBYSCORE', waiters, '-inf', now)
  for i = 1, #gone do
    forget_waiter(gone[i])
  end
end


-- Hands free permits to the waiters at the head of the queue, in arrival
-- order, and wakes each through its client's wake hub ('id|token:leaseEnd').
local function serve(limit, now, now_us, wake_prefix)
  local free = limit - used()
  while free > 0 do
    local head = redis.call('ZRANGE', queue, 0, 0)[1]
    if not head then break end
    local want = redis.call('HGET', wants, head)
    if not want then
      forget_waiter(head)
    else
      local weight, lease_ms = string.match(want, '^(%d+):(%d+)$')
      weight, lease_ms = tonumber(weight), tonumber(lease_ms)
      if weight > free then break end
      -- A grant lasts no longer than its waiter's heartbeat: one that died
      -- while queued holds the permit until then, not for a whole lease.
      -- A live waiter renews it to the full lease once it has it.
      local beat = tonumber(redis.call('ZSCORE', waiters, head) or '0')
      if beat > now and beat < now + lease_ms then lease_ms = beat - now end
      local note = redis.call('HGET', wants, 'meta:' .. head)
      local _, text = grant(head, lease_ms, weight, now, now_us, note)
      forget_waiter(head)
      wake(wake_prefix, head, text .. ':' .. fmt(now + lease_ms), lease_ms)
      free = free - weight
    end
  end
end

-- Both; then, if anyone queues, hands out what is free. Returns the queue
-- length after serving (no queue: nothing else to do, the fast path).
local function reap_and_serve(limit, now, now_us, wake_prefix)
  reap_holders(now)
  if redis.call('ZCARD', queue) == 0 then return 0 end
  reap_waiters(now)
  serve(limit, now, now_us, wake_prefix)
  return redis.call('ZCARD', queue)
end

-- The permit count: the semaphore's, else the caller's.
local function limit_of(given)
  local stored = redis.call('HGET', meta, 'permits')
  if stored then return tonumber(stored) end
  return given
end
`;

/** Helpers shared by the lock scripts (prepended to each; KEYS bound first). */
export const PRELUDE: string = PRELUDE_HEAD + PRELUDE_REST;

/**
 * A lock script: `fast` (its fast path, "" for none) then `body`, after
 * the prelude. As a script (`EVALSHA`), the fast path runs between
 * `PRELUDE_HEAD` and `PRELUDE_REST`, so it does not pay for defining the
 * helpers it does not use; as a Redis Function (`FCALL`, where the server
 * has them) the library defines every helper once, when it is loaded, and
 * each call binds the KEYS to the same named locals.
 */
export function lockScript<Args extends readonly RedisArg[], Result>(
  name: string,
  fast: string,
  body: string,
): Script<Args, Result> {
  const script = new Script<Args, Result>(
    PRELUDE_HEAD + fast + PRELUDE_REST + body,
    { keys: KEY_NAMES.length, name },
  );
  return asFunction(script, (library) =>
    `#!lua name=${library}
local ${KEY_NAMES.join(", ")}
${helpersHead()}${PRELUDE_REST}
redis.register_function('${library}', function(KEYS, ARGV)
${KEY_NAMES.join(", ")} = ${
      KEY_NAMES.map((_, i) => `KEYS[${i + 1}]`).join(", ")
    }
${fast}
${body}
end)
`);
}
