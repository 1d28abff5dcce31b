import assert from "node:assert/strict";
import {
  AutoResetEvent,
  connect,
  ConnectionError,
  FencedResource,
  type Lease,
  LockLostError,
  LockNotHeldError,
  LockTimeoutError,
  ManualResetEvent,
  Mutex,
  ReadWriteLock,
  type RedisClient,
  Redlock,
  Semaphore,
} from "../mod.ts";
import {
  contended,
  forceRelease,
  inspect,
  inspectEvent,
  listPrimitives,
} from "../src/admin.ts";
import { TOKEN_WINDOW_MS } from "../src/locks/prelude.ts";
import { sharedRedisUrl, startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { delay, until } from "./_until.ts";

const url = sharedRedisUrl();

/** Entries in the queue of the mutex `name` (default prefix). */
async function queued(redis: RedisClient, name: string): Promise<number> {
  return Number(await redis.send("ZCARD", `redsync:{${name}}:queue`));
}

/** Every key of the primitive `name` under the default prefix, with its TTL. */
async function keysOf(
  redis: RedisClient,
  name: string,
  prefix = "redsync",
): Promise<Map<string, number>> {
  const keys = await redis.send("KEYS", `${prefix}:{${name}}:*`) as string[];
  const ttls = await Promise.all(keys.map((k) => redis.send("PTTL", k)));
  return new Map(keys.map((k, i) => [k.split(":").at(-1)!, ttls[i] as number]));
}

test("mutex: acquire, tryAcquire while held, release, and await using", async () => {
  await using redis = await connect(url);
  const mutex = new Mutex(redis, unique("basic"));
  const lease = await mutex.acquire();
  assert.ok(lease.held);
  assert.equal(typeof lease.token, "number");
  assert.equal(lease.name, mutex.name);
  assert.equal(await mutex.tryAcquire(), undefined);
  await lease.release();
  assert.ok(!lease.held);
  {
    await using again = await mutex.acquire(AbortSignal.timeout(10_000));
    assert.ok(again.token > lease.token);
  }
  // The scope released it.
  const third = await mutex.tryAcquire();
  assert.ok(third);
  await third.release();
});

test("mutex: release() twice is harmless; extend() after release is LockNotHeldError", async () => {
  await using redis = await connect(url);
  const mutex = new Mutex(redis, unique("twice"));
  const lease = await mutex.acquire();
  await lease.release();
  await lease.release();
  await lease[Symbol.asyncDispose]();
  await assert.rejects(lease.extend(), LockNotHeldError);
  assert.ok(!lease.signal.aborted, "a release is not a loss");
});

test("mutex: a lost lease aborts its signal, calls onLost, and release() rejects with LockLostError", async () => {
  await using redis = await connect(url);
  const name = unique("lost");
  const lost: LockLostError[] = [];
  const mutex = new Mutex(redis, name, {
    leaseMs: 300,
    onLost: (e) => lost.push(e),
  });
  const lease = await mutex.acquire();
  // Someone deletes the lease behind our back (an operator, a failover).
  await redis.send("DEL", `redsync:{${name}}:holders`);
  const reason = await new Promise((resolve) =>
    lease.signal.addEventListener("abort", () => resolve(lease.signal.reason))
  );
  assert.ok(reason instanceof LockLostError);
  assert.equal(lost.length, 1);
  assert.equal(lost[0], reason);
  assert.ok(!lease.held);
  await assert.rejects(lease.release(), LockLostError);
  await assert.rejects(lease.extend(), LockLostError);
  await lease[Symbol.asyncDispose](); // disposing a lost lease does not throw
  // The mutex is free for others.
  const next = await mutex.tryAcquire();
  assert.ok(next);
  await next.release();
});

test("mutex: without renewal the lease ends after leaseMs: signal aborts and others get it", async () => {
  await using redis = await connect(url);
  const mutex = new Mutex(redis, unique("norenew"), {
    leaseMs: 200,
    renew: false,
  });
  const lease = await mutex.acquire();
  const started = performance.now();
  await new Promise((r) => lease.signal.addEventListener("abort", r));
  const elapsed = performance.now() - started;
  // Ended by its deadline (nothing else would end it).
  assert.ok(elapsed < 200 + 10_000, `aborted after ${elapsed} ms`);
  const other = await mutex.acquire(AbortSignal.timeout(10_000));
  assert.ok(other.token > lease.token);
  await other.release();
  await assert.rejects(lease.release(), LockLostError);
});

test("mutex: renewal keeps a lease alive far past leaseMs", async () => {
  await using redis = await connect(url);
  await using rival = await connect(url);
  const name = unique("renew");
  // Renewed about every 500 ms: timers that a loaded machine runs late
  // (by 0.5 s, seen) do not lose it; a shorter lease would test the
  // machine, not the renewal.
  const mutex = new Mutex(redis, name, { leaseMs: 1_500 });
  const rivalMutex = new Mutex(rival, name, { leaseMs: 1_500 });
  const lease = await mutex.acquire();
  for (let i = 0; i < 15; i++) {
    await delay(300); // 4.5 s in all: three leases
    assert.equal(await rivalMutex.tryAcquire(), undefined);
  }
  assert.ok(lease.held && !lease.signal.aborted);
  assert.ok(lease.remainingMs > 0 && lease.remainingMs <= 1_500);
  await lease.release();
});

test("mutex: renewals racing release() never report a false loss nor revive the lease", async () => {
  await using redis = await connect(url);
  const name = unique("race");
  const lost: unknown[] = [];
  // A 2 s lease renews about every 670 ms, so some releases land on
  // renewals in flight; every other one races an explicit extend() too.
  // (Shorter leases end for real when a loaded machine runs timers late.)
  const mutex = new Mutex(redis, name, {
    leaseMs: 2_000,
    onLost: (e) => lost.push(e),
  });
  for (let i = 0; i < 60; i++) {
    const lease = await mutex.acquire(AbortSignal.timeout(10_000));
    await delay(Math.random() * 100);
    // Settled into a value at once: its rejection may come before
    // release() resolves, and must not count as unhandled meanwhile.
    const extending = i % 2 === 0
      ? lease.extend().then(() => undefined, (error) => error)
      : undefined;
    await lease.release();
    if (extending) assert.ok(await extending instanceof LockNotHeldError);
    assert.ok(!lease.signal.aborted, `iteration ${i}: false loss`);
  }
  assert.deepEqual(lost, []);
  // Nothing revives it meanwhile: a renewal timer left armed would fire
  // within this (one renewal interval and more).
  await delay(800);
  const holders = await redis.send("ZCARD", `redsync:{${name}}:holders`);
  assert.equal(holders, 0, "a released lease was revived");
});

test("mutex: waiters are served in arrival order, one per release", async () => {
  await using redis = await connect(url);
  const name = unique("fifo");
  const clients = await Promise.all(
    Array.from({ length: 5 }, () => connect(url)),
  );
  try {
    const holder = await new Mutex(redis, name).acquire();
    const order: number[] = [];
    const leases: Lease[] = [];
    for (let i = 0; i < clients.length; i++) {
      const mutex = new Mutex(clients[i], name);
      mutex.acquire(AbortSignal.timeout(20_000)).then((lease) => {
        order.push(i);
        leases.push(lease);
      });
      // Wait until this waiter is queued before starting the next one.
      await until(
        `waiter ${i} to queue`,
        async () => await queued(redis, name) === i + 1,
      );
    }
    assert.equal(await queued(redis, name), 5);
    await holder.release();
    for (let n = 1; n <= 5; n++) {
      await until(`waiter ${n - 1} to be granted`, () => order.length >= n);
      // Each release wakes exactly one waiter: the others stay queued.
      await delay(20);
      assert.equal(order.length, n, "one release granted two waiters");
      assert.equal(await queued(redis, name), 5 - n);
      await leases[n - 1].release();
    }
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

test("mutex: an aborted acquire rejects with signal.reason and leaves nothing queued", async () => {
  await using redis = await connect(url);
  const name = unique("abort");
  const mutex = new Mutex(redis, name);
  const lease = await mutex.acquire();
  const reason = new Error("not any more");
  const controller = new AbortController();
  const waiting = mutex.acquire(controller.signal);
  await until(
    "the waiter to queue",
    async () => await queued(redis, name) === 1,
  );
  controller.abort(reason);
  await assert.rejects(waiting, (e) => e === reason);
  const timedOut = await mutex.acquire(AbortSignal.timeout(50)).catch((e) => e);
  assert.equal(timedOut.name, "TimeoutError");
  await assert.rejects(
    mutex.acquire(AbortSignal.abort(reason)),
    (e) => e === reason,
  );
  await lease.release();
  // The undos land (well before a left queue entry would lapse: 10 s).
  await until(
    "only owners (the last token) to be left",
    async () => [...(await keysOf(redis, name)).keys()].join() === "owners",
    5_000,
  );
});

test("mutex: fencing tokens keep increasing after the keys expired, and even if the last token is lost", async () => {
  await using redis = await connect(url);
  const name = unique("fence");
  const mutex = new Mutex(redis, name, { leaseMs: 50, renew: false });
  const first = await mutex.acquire();
  await delay(120); // the lease ran out: holders are gone, owners stays
  await assert.rejects(first.release(), LockLostError);
  const keys = await keysOf(redis, name);
  assert.deepEqual([...keys.keys()], ["owners"]);
  assert.ok(
    keys.get("owners")! > TOKEN_WINDOW_MS - 10_000 &&
      keys.get("owners")! <= 2 * TOKEN_WINDOW_MS,
    "owners, with the last token, is kept for the token window",
  );
  const second = await mutex.acquire();
  assert.ok(second.token > first.token);
  await second.release();
  // Without persistence a restart loses it: tokens still go up (server clock).
  await redis.send("DEL", `redsync:{${name}}:owners`);
  const third = await mutex.acquire();
  assert.ok(third.token > second.token);
  await third.release();
});

test("mutex: every key has a TTL, and only owners (the last token) stays when nobody holds or waits", async () => {
  await using redis = await connect(url);
  const name = unique("ttl");
  const mutex = new Mutex(redis, name, { leaseMs: 5_000 });
  const lease = await mutex.acquire();
  const waiting = mutex.acquire();
  await until(
    "the waiter to queue",
    async () => await queued(redis, name) === 1,
  );
  for (const [key, ttl] of await keysOf(redis, name)) {
    assert.ok(ttl > 0, `${key} has no TTL`);
  }
  await lease.release();
  const second = await waiting;
  await second.release();
  const keys = await keysOf(redis, name);
  assert.deepEqual([...keys.keys()], ["owners"]);
  assert.ok(keys.get("owners")! > 0);
  assert.deepEqual(
    await redis.send("HKEYS", `redsync:{${name}}:owners`),
    ["#token"],
  );
});

test("mutex: leases run on the server's clock: a client clock years off changes nothing", async () => {
  const realNow = Date.now;
  Date.now = () => realNow() + 10 * 365 * 86_400_000;
  try {
    await using redis = await connect(url);
    await using rival = await connect(url);
    const name = unique("clock");
    // (1.5 s: renewals that late timers on a loaded machine do not delay
    // past the lease's end.)
    const mutex = new Mutex(redis, name, { leaseMs: 1_500 });
    const lease = await mutex.acquire();
    await delay(2_000); // past the lease: renewed several times meanwhile
    assert.ok(lease.held);
    assert.equal(await new Mutex(rival, name).tryAcquire(), undefined);
    await lease.release();
    const crashed = await new Mutex(rival, name, {
      leaseMs: 100,
      renew: false,
    }).acquire();
    const started = performance.now();
    const next = await mutex.acquire(AbortSignal.timeout(20_000));
    // Once the 100 ms lease ran out by the server's clock.
    assert.ok(performance.now() - started < 10_000);
    assert.ok(next.token > crashed.token);
    await next.release();
  } finally {
    Date.now = realNow;
  }
});

test("mutex: bad arguments are TypeError/RangeError before anything is written", async () => {
  await using redis = await connect(url);
  const prefix = unique("bad");
  assert.throws(() => new Mutex(redis, ""), RangeError);
  assert.throws(() => new Mutex(redis, "x".repeat(2_000)), RangeError);
  assert.throws(() => new Mutex(redis, 42 as unknown as string), TypeError);
  assert.throws(() => new Mutex(redis, "m", { leaseMs: 0 }), RangeError);
  assert.throws(() => new Mutex(redis, "m", { leaseMs: 1.5 }), RangeError);
  assert.throws(
    () => new Mutex(redis, "m", { wait: "sometimes" as "polling" }),
    TypeError,
  );
  assert.throws(
    () =>
      new Mutex(redis, "m", { wait: { strategy: "polling", intervalMs: -1 } }),
    RangeError,
  );
  assert.throws(
    () => new Mutex(redis, "m", { onLost: "yes" as unknown as () => void }),
    TypeError,
  );
  const mutex = new Mutex(redis, "m", { prefix });
  await assert.rejects(
    mutex.acquire("soon" as unknown as AbortSignal),
    TypeError,
  );
  const lease = await mutex.acquire();
  await assert.rejects(lease.extend(0), RangeError);
  await lease.release();
  await mutex[Symbol.asyncDispose]();
  await assert.rejects(mutex.acquire(), { name: "DisposedError" });
  assert.deepEqual(await redis.send("KEYS", `${prefix}:{m}:*`), [
    `${prefix}:{m}:owners`,
  ]);
});

test("mutex: disposing the mutex releases its leases and rejects pending acquires", async () => {
  await using redis = await connect(url);
  const name = unique("dispose");
  const mutex = new Mutex(redis, name);
  const lease = await mutex.acquire();
  const pending = mutex.acquire();
  // Handled from the start: the waiter rejects as soon as dispose begins.
  const rejected = assert.rejects(pending, { name: "DisposedError" });
  await until(
    "the waiter to queue",
    async () => await queued(redis, name) === 1,
  );
  await mutex[Symbol.asyncDispose]();
  await rejected;
  assert.ok(!lease.held);
  const other = await new Mutex(redis, name).tryAcquire();
  assert.ok(other);
  await other.release();
});

test("mutex: polling waits with the same guarantees", async () => {
  await using redis = await connect(url);
  const name = unique("polling");
  const mutex = new Mutex(redis, name, {
    wait: { strategy: "polling", intervalMs: 2, maxIntervalMs: 20 },
  });
  const lease = await mutex.acquire();
  // A poller does not queue while nobody else does: its first poll found
  // the mutex held once it reports that it waits.
  const polled = new Promise((r) => mutex.addEventListener("waiting", r));
  const waiting = mutex.acquire(AbortSignal.timeout(20_000));
  await polled;
  await lease.release();
  const next = await waiting;
  assert.ok(next.token > lease.token);
  const aborted = await mutex.acquire(AbortSignal.timeout(20)).catch((e) => e);
  assert.equal(aborted.name, "TimeoutError");
  await next.release();
  assert.deepEqual([...(await keysOf(redis, name)).keys()], ["owners"]);
});

test("mutex: Redis unreachable: acquire waits, rejects with signal.reason at the caller's deadline, and gets the lock once Redis is back", async () => {
  await using server = await startRedis();
  await using redis = await connect({
    url: server.url,
    commandTimeoutMs: 300,
    reconnect: { minDelayMs: 50, maxDelayMs: 100 },
  });
  const mutex = new Mutex(redis, unique("down"));
  await server.kill();
  // Down: the wait goes on (no ConnectionError) until the caller's deadline.
  let started = performance.now();
  const timeout = await mutex.acquire(AbortSignal.timeout(700)).catch((e) => e);
  assert.equal(timeout.name, "TimeoutError", String(timeout));
  const waited = performance.now() - started;
  assert.ok(waited >= 650 && waited < 10_000, `waited ${waited} ms`);
  // A wait that starts while Redis is down succeeds once it is back.
  started = performance.now();
  const pending = mutex.acquire(AbortSignal.timeout(20_000));
  await delay(500);
  await server.restart();
  const lease = await pending;
  assert.ok(lease.held);
  await lease.release();
});

/** Redis Cluster's key slot: CRC16/XMODEM of the hash tag (or key) mod 16384. */
function keySlot(key: string): number {
  const open = key.indexOf("{");
  if (open !== -1) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of new TextEncoder().encode(key)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) {
      crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
      crc &= 0xffff;
    }
  }
  return crc % 16384;
}

test("mutex: every key of one primitive lives in one cluster slot", async () => {
  assert.equal(keySlot("123456789"), 0x31c3 % 16384); // the CRC16 check value
  await using redis = await connect(url);
  const name = unique("slot");
  const mutex = new Mutex(redis, name);
  const lease = await mutex.acquire();
  const waiting = mutex.acquire();
  await until(
    "the waiter to queue",
    async () => await queued(redis, name) === 1,
  );
  const keys = await redis.send("KEYS", `redsync:{${name}}:*`) as string[];
  assert.ok(keys.length >= 5, keys.join(" "));
  assert.equal(new Set(keys.map(keySlot)).size, 1);
  await lease.release();
  await (await waiting).release();
});

test("mutex: a holder cut off from Redis learns it lost the lease by its deadline", async () => {
  await using server = await startRedis();
  await using redis = await connect({
    url: server.url,
    commandTimeoutMs: 200,
    reconnect: { minDelayMs: 50, maxDelayMs: 100 },
  });
  const lost: LockLostError[] = [];
  const mutex = new Mutex(redis, unique("cutoff"), {
    leaseMs: 600,
    onLost: (e) => lost.push(e),
  });
  const lease = await mutex.acquire();
  const acquiredAt = performance.now();
  await server.kill();
  await new Promise((r) => lease.signal.addEventListener("abort", r));
  const after = performance.now() - acquiredAt;
  assert.ok(lease.signal.reason instanceof LockLostError);
  assert.equal(lost.length, 1);
  // By its deadline, not by some later failure (the renewals time out after
  // 200 ms each and are retried); generous for a loaded machine.
  assert.ok(after <= 600 + 5_000, `noticed after ${after} ms`);
});

test("mutex: a waiter granted after a long wait gets the full lease, not what is left of its wait", async () => {
  await using redis = await connect(url);
  const name = unique("longwait");
  // Short leases, long waits: the grant comes long after the BLPOP started.
  // (1.5 s: renewed every ~500 ms, which late timers on a loaded machine
  // do not make miss the lease's end.)
  const options = { leaseMs: 1_500, waiterTtlMs: 5_000 };
  const holder = await new Mutex(redis, name, options).acquire();
  const waiting = new Mutex(redis, name, options).acquire();
  await delay(2_000); // the holder renews meanwhile
  await holder.release();
  const lease = await waiting;
  assert.ok(lease.remainingMs > 750, `only ${lease.remainingMs} ms left`);
  await delay(2_000); // renewals keep it
  assert.ok(lease.held && !lease.signal.aborted);
  await lease.release();
});

test("mutex: runExclusive runs and releases, skips at once when taken, times out with LockTimeoutError", async () => {
  await using redis = await connect(url);
  const name = unique("run");
  const mutex = new Mutex(redis, name);
  const done = await mutex.runExclusive(async (signal, lease) => {
    assert.ok(!signal.aborted);
    assert.equal(await mutex.tryAcquire(), undefined);
    return lease.token;
  });
  assert.ok(done.ran && typeof done.value === "number");
  // It releases even when the function throws.
  await assert.rejects(
    mutex.runExclusive(() => {
      throw new Error("boom");
    }),
    /boom/,
  );
  const holder = await mutex.acquire();
  let called = false;
  const skipped = await mutex.runExclusive(() => {
    called = true;
  }, { wait: "skip" });
  assert.deepEqual(skipped, { ran: false });
  assert.equal(called, false);
  const timedOut = await mutex.runExclusive(() => 1, { wait: 50 }).catch((e) =>
    e
  );
  assert.ok(timedOut instanceof LockTimeoutError, String(timedOut));
  assert.equal(timedOut.waitedMs, 50);
  const reason = new Error("caller gave up");
  await assert.rejects(
    mutex.runExclusive(() => 1, {
      wait: 5_000,
      signal: AbortSignal.abort(reason),
    }),
    (e) => e === reason,
  );
  await holder.release();
  const after = await mutex.runExclusive(() => "free again", { wait: "skip" });
  assert.deepEqual(after, { ran: true, value: "free again" });
});

test("mutex: closing the client ends its leases at once (no renewals into a closed client)", async () => {
  const redis = await connect(url);
  const name = unique("closed");
  const lease = await new Mutex(redis, name, { leaseMs: 20_000 }).acquire();
  await redis.close();
  const started = performance.now();
  // close() released it, and told the holder (already, or soon).
  if (!lease.signal.aborted) {
    await new Promise((r) => lease.signal.addEventListener("abort", r));
  }
  assert.ok(lease.signal.reason instanceof LockLostError);
  // Long before the lease's 20 s deadline.
  assert.ok(performance.now() - started < 10_000, "it waited for the deadline");
});

test("mutex: an abort right before close() is undone even after the server lost its scripts", async () => {
  await using server = await startRedis();
  await using redis = await connect(server.url);
  const name = unique("flushed");
  const mutex = new Mutex(redis, name);
  const holder = await mutex.acquire();
  const other = await connect(server.url);
  const controller = new AbortController();
  const waiting = new Mutex(other, name).acquire(controller.signal);
  waiting.catch(() => {});
  await until(
    "the waiter to queue",
    async () => await queued(redis, name) === 1,
  );
  await redis.send("SCRIPT", "FLUSH"); // as after a restart or failover
  controller.abort();
  await other.close(); // the cleanup must already be complete on the wire
  await holder.release();
  const next = await mutex.tryAcquire();
  assert.ok(next, "a waiter that left was handed the mutex");
  await next.release();
});

test("primitives: after the client's close(), acquires and waits say the client was closed", async () => {
  const redis = await connect(url);
  const semaphore = await Semaphore.create(redis, unique("closed-s"), {
    permits: 2,
  });
  await redis.close();
  const isClosed = (error: unknown) =>
    error instanceof ConnectionError && /is closed/.test(error.message);
  const name = unique("closed");
  const mutex = new Mutex(redis, name);
  const rw = new ReadWriteLock(redis, name + ":rw");
  const calls: [string, () => Promise<unknown>][] = [
    ["Mutex.acquire", () => mutex.acquire()],
    ["Mutex.tryAcquire", () => mutex.tryAcquire()],
    ["Mutex.runExclusive", () => mutex.runExclusive(() => {})],
    ["Semaphore.acquire", () => semaphore.acquire()],
    ["Semaphore.tryAcquire", () => semaphore.tryAcquire()],
    [
      "Semaphore.create",
      () => Semaphore.create(redis, unique("s"), { permits: 2 }),
    ],
    ["ReadWriteLock.read", () => rw.read()],
    ["ReadWriteLock.tryWrite", () => rw.tryWrite()],
    ["ManualResetEvent.wait", () => new ManualResetEvent(redis, name).wait()],
    ["AutoResetEvent.wait", () => new AutoResetEvent(redis, name).wait()],
    ["AutoResetEvent.set", () => new AutoResetEvent(redis, name).set()],
  ];
  for (const [what, call] of calls) {
    const error = await call().catch((e) => e);
    assert.ok(isClosed(error), `${what}: ${error}`);
  }
});

test("primitives: a missing client is a TypeError naming 'client', in every constructor and function", async () => {
  const none = undefined as unknown as RedisClient;
  const fake = {} as unknown as RedisClient;
  const sync: [string, () => unknown][] = [
    ["Mutex", () => new Mutex(none, "m")],
    ["ReadWriteLock", () => new ReadWriteLock(none, "m")],
    ["ManualResetEvent", () => new ManualResetEvent(none, "m")],
    ["AutoResetEvent", () => new AutoResetEvent(fake, "m")],
    ["FencedResource", () => new FencedResource(none, "r")],
    ["Redlock", () => new Redlock([none, none, none], "m")],
  ];
  for (const [what, call] of sync) {
    assert.throws(call, (error: unknown) => {
      assert.ok(error instanceof TypeError, `${what}: ${error}`);
      assert.match(
        error.message,
        /'client(s\[0\])?' must be a RedisClient from connect\(\)/,
        what,
      );
      return true;
    });
  }
  const calls: [string, () => Promise<unknown>][] = [
    ["Semaphore.create", () => Semaphore.create(none, "s", { permits: 2 })],
    ["Semaphore.attach", () => Semaphore.attach(fake, "s")],
    ["inspect", () => inspect(none, "m")],
    ["listPrimitives", () => listPrimitives(none)],
    ["forceRelease", () => forceRelease(none, "m")],
    ["inspectEvent", () => inspectEvent(none, "e", "manual-reset-event")],
    ["contended", () => contended(none)],
  ];
  for (const [what, call] of calls) {
    const error = await call().catch((e) => e);
    assert.ok(error instanceof TypeError, `${what}: ${error}`);
    assert.match(
      error.message,
      /'client' must be a RedisClient from connect\(\)/,
      what,
    );
  }
});

test("runExclusive: a bad 'wait' lists the accepted values", async () => {
  await using redis = await connect(url);
  const mutex = new Mutex(redis, unique("wait"));
  const sometimes = await mutex.runExclusive(() => {}, {
    wait: "sometimes" as unknown as number,
  }).catch((e) => e);
  assert.ok(sometimes instanceof TypeError, String(sometimes));
  for (const accepted of ['"forever"', '"skip"', "0..2147483647"]) {
    assert.ok(sometimes.message.includes(accepted), sometimes.message);
  }
  assert.ok(sometimes.message.includes('"sometimes"'), sometimes.message);
  const negative = await mutex.runExclusive(() => {}, { wait: -1 }).catch((
    e,
  ) => e);
  assert.ok(negative instanceof RangeError, String(negative));
  assert.ok(negative.message.includes('"skip"'), negative.message);
  const rw = await new ReadWriteLock(redis, unique("wait-rw")).runRead(
    () => {},
    { wait: "never" as unknown as number },
  ).catch((e) => e);
  assert.ok(rw instanceof TypeError && rw.message.includes('"skip"'), `${rw}`);
});

test("tryAcquire: with Redis down it rejects with its signal's reason, without waiting out commandTimeoutMs", async () => {
  await using server = await startRedis();
  await using redis = await connect({
    url: server.url,
    commandTimeoutMs: 20_000,
  });
  const name = unique("down");
  const mutex = new Mutex(redis, name);
  const semaphore = await Semaphore.create(redis, name + ":s", { permits: 2 });
  const rw = new ReadWriteLock(redis, name + ":rw");
  (await rw.tryRead())?.release(); // its name checked while Redis is up
  await server.kill();
  const tries: [string, (signal: AbortSignal) => Promise<unknown>][] = [
    ["Mutex.tryAcquire", (signal) => mutex.tryAcquire({ signal })],
    ["Semaphore.tryAcquire", (signal) => semaphore.tryAcquire({ signal })],
    ["ReadWriteLock.tryRead", (signal) => rw.tryRead({ signal })],
    ["ReadWriteLock.tryWrite", (signal) => rw.tryWrite({ signal })],
    [
      "runExclusive skip",
      (signal) => mutex.runExclusive(() => {}, { wait: "skip", signal }),
    ],
  ];
  for (const [what, attempt] of tries) {
    const started = performance.now();
    const error = await attempt(AbortSignal.timeout(300)).catch((e) => e);
    const tookMs = performance.now() - started;
    assert.equal((error as Error)?.name, "TimeoutError", `${what}: ${error}`);
    assert.ok(tookMs < 10_000, `${what} took ${Math.round(tookMs)} ms`); // not 20 s
  }
  const aborted = await mutex.tryAcquire({ signal: AbortSignal.abort("no") })
    .catch((e) => e);
  assert.equal(aborted, "no");
  await server.restart();
  const lease = await mutex.tryAcquire();
  assert.ok(lease, "the mutex is free once Redis is back");
  await lease.release();
});

test("leases of a closed client: nothing is retried nor warned about", async () => {
  const warnings: string[] = [];
  const logger = {
    warn: (message: string, error?: unknown) =>
      warnings.push(`${message} ${error}`),
  };
  const redis = await connect(url);
  const name = unique("closed-leases");
  const mutex = new Mutex(redis, name, { logger, leaseMs: 1_000 });
  const semaphore = await Semaphore.create(redis, name + ":s", {
    permits: 3,
    logger,
    leaseMs: 1_000,
  });
  const held = await mutex.acquire();
  const permit = await semaphore.acquire();
  const other = await semaphore.acquire();
  await redis.close({ release: false });
  // Released, disposed, renewed and lost after the close: quietly.
  await held.release().catch(() => {});
  await permit[Symbol.asyncDispose]().catch(() => {});
  await mutex[Symbol.asyncDispose]();
  // Its renewal (after a third of its lease) finds the client closed.
  await until("the kept lease to end", () => other.signal.aborted);
  await semaphore[Symbol.asyncDispose]();
  await delay(300); // a retry would have warned by now (it starts at 20 ms)
  assert.deepEqual(
    warnings.filter((w) => /retrying/.test(w)),
    [],
    warnings.join("\n"),
  );
});
