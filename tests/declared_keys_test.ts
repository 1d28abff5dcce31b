/**
 * Every key declared (issue 24): every script of the library receives in
 * KEYS every key it reads or writes, as servers that lock declared keys
 * require (Dragonfly by default, and Redis Cluster's slot checks depend on
 * it). This file runs the library through a checking build of its scripts:
 * each script's source gets a prelude that shadows `redis` with one whose
 * `call`/`pcall` check, before the real call, that each argument the
 * command takes as a key is one of KEYS (a table of the commands the
 * scripts use says which arguments are keys; PUBLISH/SPUBLISH channels are
 * not keys; an unknown command fails too, so the table follows the
 * scripts). A violation raises `UNDECLARED ...`: the call does not run.
 *
 * The build is swapped in for this process only, by wrapping
 * `Script.prototype.run` and `command` (each test file runs in a process of
 * its own): the primitives, unchanged, run their real scenarios against
 * real servers (acquire, queue, hand-off, abort, extend, renewal, crash
 * recovery, polling, semaphores, read-write locks, durability, events,
 * fencing, Redlock, acquireAll, inspect, contended), then again through the
 * general paths of `ACQUIRE`/`RELEASE`. Every script that `src/` defines
 * (`new Script(`, found by reading the sources) must have run checked, and
 * the servers must have answered no `UNDECLARED` error (`INFO errorstats`:
 * also those of background renewals and cleanups). And the checker itself
 * fails on scripts that touch an undeclared key (the old wake list among
 * them).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  acquireAll,
  AutoResetEvent,
  connect,
  FencedResource,
  ManualResetEvent,
  Mutex,
  ReadWriteLock,
  type RedisClient,
  RedisReplyError,
  Redlock,
  Script,
  Semaphore,
} from "../mod.ts";
import {
  contended,
  forceRelease,
  inspect,
  inspectEvent,
  listPrimitives,
} from "../src/admin.ts";
import { ACQUIRE, generalPaths, RELEASE } from "../src/locks/scripts.ts";
import { waitForReplicas } from "../harness/replication.ts";
import { type RedisServer, startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { until } from "./_until.ts";

/** Commands whose first argument is their only key. */
const FIRST_KEY = [
  "GET SET GETDEL GETEX INCR INCRBY DECR DECRBY STRLEN APPEND",
  "PTTL TTL PEXPIRE PEXPIREAT EXPIRE EXPIREAT PERSIST TYPE",
  "ZADD ZREM ZRANGE ZRANGEBYSCORE ZREVRANGE ZREVRANGEBYSCORE ZCARD ZCOUNT",
  "ZSCORE ZMSCORE ZRANK ZREVRANK ZINCRBY ZREMRANGEBYSCORE ZREMRANGEBYRANK",
  "ZPOPMIN ZPOPMAX HGET HSET HSETNX HMSET HDEL HGETALL HLEN HMGET HEXISTS",
  "HINCRBY HKEYS HVALS SADD SREM SISMEMBER SMISMEMBER SMEMBERS SCARD",
  "LPUSH RPUSH LPOP RPOP LLEN LRANGE LTRIM LINDEX LREM",
].join(" ");
/** Commands whose every argument is a key. */
const ALL_KEYS = "DEL UNLINK EXISTS TOUCH MGET";
/** Commands that take no key (a pub/sub channel is not a key). */
const NO_KEY = "TIME INFO PING ECHO PUBLISH SPUBLISH";

/** Prepended to every script of the checking build. */
const CHECKER = `
local redis = (function(real)
  local declared = {}
  for i = 1, #KEYS do declared[KEYS[i]] = true end
  local first, all, none = {}, {}, {}
  for name in string.gmatch('${FIRST_KEY}', '%S+') do first[name] = true end
  for name in string.gmatch('${ALL_KEYS}', '%S+') do all[name] = true end
  for name in string.gmatch('${NO_KEY}', '%S+') do none[name] = true end
  local function check(...)
    local n = select('#', ...)
    local args = {...}
    local name = string.upper(tostring(args[1]))
    local from, to = 2, 1
    if first[name] then to = 2
    elseif all[name] then to = n
    elseif not none[name] then
      error({err = 'UNDECLARED the key checker does not know which arguments of ' .. name .. ' are keys'})
    end
    for i = from, to do
      local key = tostring(args[i])
      if not declared[key] then
        error({err = 'UNDECLARED key ' .. key .. ' (' .. name .. ') is not in KEYS'})
      end
    end
  end
  local checked = setmetatable({}, {__index = real})
  checked.call = function(...) check(...) return real.call(...) end
  checked.pcall = function(...) check(...) return real.pcall(...) end
  return checked
end)(redis)
`;

/** The checking build of each script, made on first use. */
const builds = new WeakMap<Script, Script>();
/** Names of the scripts that ran checked. */
const ran = new Set<string>();
/** With `general`, ACQUIRE and RELEASE run as their general paths. */
let general = false;

function checked(script: Script): Script {
  let original = script;
  if (general && (script as unknown) === ACQUIRE) {
    original = generalPaths().acquire as unknown as Script;
  } else if (general && (script as unknown) === RELEASE) {
    original = generalPaths().release as unknown as Script;
  }
  let build = builds.get(original);
  if (!build) {
    build = new Script(CHECKER + original.source, {
      keys: original.keys,
      name: original.name,
    });
    builds.set(original, build);
  }
  ran.add(build.name);
  return build;
}

// This process only: every Script runs its checking build.
const run = Script.prototype.run;
const command = Script.prototype.command;
Script.prototype.run = function (this: Script, client, keys, args, options) {
  return run.call(checked(this), client, keys, args, options);
};
Script.prototype.command = function (this: Script, keys, args, scripts) {
  return command.call(checked(this), keys, args, scripts);
};

/** `UNDECLARED` errors a server answered so far (`INFO errorstats`). */
async function undeclared(redis: RedisClient): Promise<number> {
  const info = String(await redis.send("INFO", "errorstats"));
  return Number(/errorstat_UNDECLARED:count=(\d+)/.exec(info)?.[1] ?? 0);
}

/** The repository (beside this file; a Node bundle runs from it). */
function root(): string {
  const beside = fileURLToPath(new URL("../", import.meta.url));
  return existsSync(join(beside, "mod.ts")) ? beside : process.cwd();
}

/** Every `.ts` file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** A construction of a script: `new Script(` or `new Script<...>(`. */
const NEW_SCRIPT = /new Script\s*(?:<[^()]*?>)?\(/g;

/**
 * The names of the scripts `src/` defines: the `name` of each
 * `new Script(`, or, where the name is not a literal (a factory such as
 * `function lockScript(name, ...)` making the script), the literal first
 * argument of each call of that function. `unresolved ...` for one whose
 * name this cannot tell (the check needs them).
 */
function definedScripts(): string[] {
  const src = join(root(), "src");
  const texts = sources(src)
    .filter((file) => !file.endsWith(join("client", "script.ts"))) // its docs
    .map((file) => [file.slice(src.length + 1), readFileSync(file, "utf8")]);
  const names: string[] = [];
  for (const [file, text] of texts) {
    for (const site of text.matchAll(NEW_SCRIPT)) {
      const rest = text.slice(site.index + site[0].length);
      const next = rest.search(NEW_SCRIPT);
      const call = next === -1 ? rest : rest.slice(0, next);
      const literal = /\bname:\s*"([^"]+)"/.exec(call)?.[1];
      if (literal) {
        names.push(literal);
        continue;
      }
      const before = text.slice(0, site.index);
      const factory = [...before.matchAll(/function\s+(\w+)\s*[<(]/g)].at(-1)
        ?.[1];
      const calls = factory === undefined ? [] : texts.flatMap(([, t]) =>
        [
          ...t.matchAll(
            new RegExp(`\\b${factory}\\s*(?:<[^()]*?>)?\\(\\s*"([^"]+)"`, "g"),
          ),
        ].map((m) => m[1])
      );
      if (calls.length > 0) names.push(...calls);
      else names.push(`unresolved ${factory ?? "script"} in ${file}`);
    }
  }
  return names;
}

/**
 * `promise`, marked handled: a scenario that fails early reports its own
 * error, not the rejection of a wait it left pending.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** Lock scenarios: every path of ACQUIRE, RELEASE, EXTEND, INIT and INFO. */
async function lockScenarios(redis: RedisClient, other: RedisClient) {
  const name = unique("locks");
  const mutex = new Mutex(redis, name);
  // Uncontended, tryAcquire on a taken lock, info, runExclusive.
  const first = await mutex.acquire();
  assert.equal(await new Mutex(other, name).tryAcquire(), undefined);
  assert.equal((await mutex.info()).holders.length, 1);
  await first.extend();
  // A hand-off to a queued blocking waiter, with meta.
  const waiting = handled(
    new Mutex(other, name).acquire({
      signal: AbortSignal.timeout(20_000),
      meta: "second",
    }),
  );
  await until(
    "the waiter to queue",
    async () => (await mutex.info()).waiters === 1,
  );
  // An aborted waiter (its undo), and a polling one queued behind.
  const aborted = new AbortController();
  const gone = handled(mutex.acquire(aborted.signal));
  const poller = handled(
    new Mutex(redis, name, {
      wait: { strategy: "polling", intervalMs: 5, maxIntervalMs: 20 },
    }).acquire(AbortSignal.timeout(20_000)),
  );
  await until("both to queue", async () => (await mutex.info()).waiters === 3);
  aborted.abort();
  await assert.rejects(gone);
  await first.release();
  const second = await waiting;
  await second.release();
  await (await poller).release();
  await mutex.runExclusive(() => {});
  // Renewal in the background, a lost lease's crash recovery.
  const renewing = new Mutex(redis, unique("renew"), { leaseMs: 600 });
  const renewed = new Promise((r) => renewing.addEventListener("renewed", r));
  const lease = await renewing.acquire();
  await renewed;
  await lease.release();
  const crashName = unique("crash");
  await new Mutex(redis, crashName, { leaseMs: 300, renew: false }).acquire();
  // Never released: the waiter wakes at its end, reaps it, is served.
  await (await new Mutex(other, crashName).acquire(AbortSignal.timeout(20_000)))
    .release();
  // A semaphore: INIT, several permits, a hand-off of two.
  const sem = await Semaphore.create(redis, unique("sem"), { permits: 3 });
  const two = await sem.acquire({ permits: 2 });
  const one = await sem.acquire();
  const more = handled(
    sem.acquire({ permits: 2, signal: AbortSignal.timeout(20_000) }),
  );
  await until(
    "the semaphore waiter to queue",
    async () => (await sem.info()).waiters === 1,
  );
  await two.release();
  await (await more).release();
  await one.release();
  await Semaphore.attach(redis, sem.name);
  // A read-write lock: readers, a writer behind them, readers behind it.
  const rw = new ReadWriteLock(redis, unique("rw"));
  const reads = [await rw.read(), await rw.read()];
  const write = handled(rw.write(AbortSignal.timeout(20_000)));
  await until(
    "the writer to queue",
    async () => (await rw.info()).waiters === 1,
  );
  const late = handled(rw.read(AbortSignal.timeout(20_000)));
  for (const read of reads) await read.release();
  await (await write).release();
  await (await late).release();
  // Operators: inspect, list, force a release, waiting statistics.
  const held = await new Mutex(other, unique("forced")).acquire();
  await inspect(redis, held.name);
  await listPrimitives(redis);
  await forceRelease(redis, held.name, { id: held.id });
  await contended(redis);
}

/** Event scenarios: every script of both events. */
async function eventScenarios(redis: RedisClient, other: RedisClient) {
  const manual = new ManualResetEvent(redis, unique("manual"));
  const waits = [
    handled(manual.wait(AbortSignal.timeout(20_000))),
    handled(
      new ManualResetEvent(other, manual.name).wait(
        AbortSignal.timeout(20_000),
      ),
    ),
  ];
  await until(
    "the listeners to register",
    async () => (await manual.info()).waiters === 2,
  );
  assert.equal(await manual.set(), 2);
  await Promise.all(waits);
  assert.ok(await manual.isSet());
  await manual.clear();
  await inspectEvent(redis, manual.name, "manual-reset-event");
  const auto = new AutoResetEvent(redis, unique("auto"));
  await auto.set(); // queued: nobody waits
  await auto.wait(AbortSignal.timeout(10_000)); // taken from the list
  const takers = `redsync:{${auto.name}}:takers`;
  const taker = handled(
    new AutoResetEvent(other, auto.name).wait(AbortSignal.timeout(20_000)),
  );
  // Queued first, so that the next set() is handed to it (started together,
  // either may arrive first on a loaded machine).
  await until(
    "the first taker to queue",
    async () => Number(await redis.send("ZCARD", takers)) === 1,
  );
  const aborted = new AbortController();
  const gone = handled(auto.wait(aborted.signal));
  await until(
    "the takers to queue",
    async () => Number(await redis.send("ZCARD", takers)) === 2,
  );
  await auto.set(); // handed to the first taker
  await taker;
  aborted.abort(); // its undo
  await assert.rejects(gone);
  await auto.pending();
  await auto.isSet();
  await auto.clear();
  await inspectEvent(redis, auto.name, "auto-reset-event");
}

test("declared keys: every script the library defines is named, so its run can be checked", () => {
  const names = definedScripts();
  assert.ok(names.length >= 15, `only ${names.length} scripts found in src/`);
  assert.deepEqual(names.filter((n) => n.startsWith("unresolved")), []);
});

test(
  "declared keys: every scenario runs through the checking build of every script, and no script touches a key it does not declare",
  async () => {
    await using server = await startRedis();
    await using replica = await startRedis({
      args: ["--replicaof", "127.0.0.1", String(server.port)],
    });
    await waitForReplicas(server.port);
    const servers: RedisServer[] = [
      server,
      await startRedis(),
      await startRedis(),
    ];
    try {
      await using redis = await connect(server.url);
      await using other = await connect(server.url);
      const before = await undeclared(redis);
      await lockScenarios(redis, other);
      await eventScenarios(redis, other);
      // Durability: grants confirmed by EXTEND then WAIT on one connection
      // (Script.command), direct and handed off.
      const durable = new Mutex(redis, unique("durable"), {
        durability: { replicas: 1, timeoutMs: 5_000 },
      });
      const d1 = await durable.acquire();
      const d2 = handled(
        new Mutex(other, durable.name, {
          durability: { replicas: 1, timeoutMs: 5_000 },
        }).acquire(AbortSignal.timeout(20_000)),
      );
      await until(
        "the durable waiter to queue",
        async () => (await durable.info()).waiters === 1,
      );
      await d1.release();
      await (await d2).release();
      // Fencing.
      const resource = new FencedResource(redis, unique("fenced"));
      assert.equal(await resource.write(5, "a"), true);
      assert.equal(await resource.write(4, "b"), false);
      await resource.read();
      // Redlock over three servers, and acquireAll of one name on two
      // servers (its server is asked: RUN_ID).
      const clients = await Promise.all(servers.map((s) => connect(s.url)));
      try {
        const redlock = new Redlock(clients, unique("redlock"));
        const red = await redlock.acquire();
        await red.extend();
        await red.release();
        const both = unique("both");
        const multi = await acquireAll([
          new Mutex(clients[1], both),
          new Mutex(clients[2], both),
        ]);
        await multi.release();
        for (const client of clients) {
          assert.equal(await undeclared(client), 0, client.url);
        }
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
      // The general paths of ACQUIRE and RELEASE, through the same scenarios.
      general = true;
      try {
        await lockScenarios(redis, other);
      } finally {
        general = false;
      }
      assert.equal(await undeclared(redis) - before, 0, "UNDECLARED answers");
      const missing = definedScripts().filter((name) => !ran.has(name));
      assert.deepEqual(missing, [], "scripts that never ran checked");
    } finally {
      await Promise.all(servers.slice(1).map((s) => s.stop()));
      await replica.stop();
    }
  },
  { timeoutMs: 120_000 },
);

test("declared keys: the checker fails a script that touches a key it was not given, and runs nothing of that call", async () => {
  await using server = await startRedis();
  await using redis = await connect(server.url);
  const key = unique("declared");
  const bad = [
    // A key built from another: not in KEYS.
    new Script("return redis.call('SET', KEYS[1] .. ':other', 'x')", {
      keys: 1,
      name: "bad-call",
    }),
    // pcall does not hide it: the check raises before the call.
    new Script("return redis.pcall('GET', ARGV[1])", {
      keys: 1,
      name: "bad-pcall",
    }),
    // A command the checker does not know.
    new Script("return redis.call('SINTERCARD', 1, KEYS[1])", {
      keys: 1,
      name: "bad-unknown",
    }),
    // The wake list of old (issue 24): built from ARGV inside the script.
    new Script(
      `local list = ARGV[1] .. string.match(ARGV[2], '^(.-)%.')
       redis.call('RPUSH', list, ARGV[2] .. '|1')
       return 1`,
      { keys: 1, name: "old-wake-list" },
    ),
  ];
  for (const script of bad) {
    await assert.rejects(
      script.run(redis, [key], [`${key}:other`, "hub.1"]),
      (error: unknown) => {
        assert.ok(error instanceof RedisReplyError, String(error));
        assert.equal(error.code, "UNDECLARED", error.message);
        return true;
      },
      script.name,
    );
  }
  assert.deepEqual(await redis.send("KEYS", `${key}*`), [], "nothing written");
  assert.equal(await undeclared(redis), bad.length);
  // The same calls on declared keys pass; a channel is not a key.
  const good = new Script(
    `redis.call('SET', KEYS[1], 'x')
     redis.pcall('PUBLISH', ARGV[1], 'message')
     return redis.call('GET', KEYS[1])`,
    { keys: 1, name: "good" },
  );
  assert.equal(await good.run(redis, [key], [`${key}:channel`]), "x");
});
