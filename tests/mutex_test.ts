import assert from "node:assert/strict";
import {
  connect,
  LockLostError,
  LockNotHeldError,
  LockTimeoutError,
  Mutex,
  type RedisClient,
} from "../mod.ts";
import { sharedRedisUrl, startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";

const url = sharedRedisUrl();
const unique = (label: string) => `${label}:${crypto.randomUUID()}`;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    await using again = await mutex.acquire(AbortSignal.timeout(1_000));
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
  assert.ok(elapsed < 200 + 1_000, `aborted after ${elapsed} ms`);
  const other = await mutex.acquire(AbortSignal.timeout(2_000));
  assert.ok(other.token > lease.token);
  await other.release();
  await assert.rejects(lease.release(), LockLostError);
});

test("mutex: renewal keeps a lease alive far past leaseMs", async () => {
  await using redis = await connect(url);
  await using rival = await connect(url);
  const name = unique("renew");
  const mutex = new Mutex(redis, name, { leaseMs: 150 });
  const rivalMutex = new Mutex(rival, name, { leaseMs: 150 });
  const lease = await mutex.acquire();
  for (let i = 0; i < 10; i++) {
    await delay(100);
    assert.equal(await rivalMutex.tryAcquire(), undefined);
  }
  assert.ok(lease.held && !lease.signal.aborted);
  assert.ok(lease.remainingMs > 0 && lease.remainingMs <= 150);
  await lease.release();
});

test("mutex: renewals racing release() never report a false loss nor revive the lease", async () => {
  await using redis = await connect(url);
  const name = unique("race");
  const lost: unknown[] = [];
  // A 200 ms lease renews about every 65 ms, so some releases land on
  // renewals in flight; every other one races an explicit extend() too.
  const mutex = new Mutex(redis, name, {
    leaseMs: 200,
    onLost: (e) => lost.push(e),
  });
  for (let i = 0; i < 60; i++) {
    const lease = await mutex.acquire(AbortSignal.timeout(5_000));
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
  await delay(50); // any renewal still in flight has landed by now
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
    const queue = `redsync:{${name}}:queue`;
    const waiters: Promise<void>[] = [];
    for (let i = 0; i < clients.length; i++) {
      const mutex = new Mutex(clients[i], name);
      waiters.push(
        mutex.acquire().then(async (lease) => {
          order.push(i);
          await delay(5);
          await lease.release();
        }),
      );
      // Wait until this waiter is queued before starting the next one.
      for (let j = 0; j < 200; j++) {
        if (await redis.send("ZCARD", queue) === i + 1) break;
        await delay(5);
      }
    }
    assert.equal(await redis.send("ZCARD", queue), 5);
    await holder.release();
    await delay(2); // the release woke exactly one waiter: still 4 queued
    assert.ok(order.length <= 1);
    assert.ok(Number(await redis.send("ZCARD", queue)) >= 4 - order.length);
    await Promise.all(waiters);
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
  await delay(30);
  controller.abort(reason);
  await assert.rejects(waiting, (e) => e === reason);
  const timedOut = await mutex.acquire(AbortSignal.timeout(50)).catch((e) => e);
  assert.equal(timedOut.name, "TimeoutError");
  await assert.rejects(
    mutex.acquire(AbortSignal.abort(reason)),
    (e) => e === reason,
  );
  await lease.release();
  await delay(20);
  const keys = await keysOf(redis, name);
  assert.deepEqual([...keys.keys()], ["fence"]);
});

test("mutex: fencing tokens keep increasing after the keys expired, and even if the fence key is lost", async () => {
  await using redis = await connect(url);
  const name = unique("fence");
  const mutex = new Mutex(redis, name, { leaseMs: 50, renew: false });
  const first = await mutex.acquire();
  await delay(120); // the lease ran out: holders are gone, only the fence stays
  await assert.rejects(first.release(), LockLostError);
  const keys = await keysOf(redis, name);
  assert.deepEqual([...keys.keys()], ["fence"]);
  assert.ok(
    keys.get("fence")! > 6 * 86_400_000,
    "the fence key is the one kept: it expires only after 7 idle days",
  );
  const second = await mutex.acquire();
  assert.ok(second.token > first.token);
  await second.release();
  // Without persistence a restart loses the fence: tokens still go up (server clock).
  await redis.send("DEL", `redsync:{${name}}:fence`);
  const third = await mutex.acquire();
  assert.ok(third.token > second.token);
  await third.release();
});

test("mutex: every key but the fence has a TTL, and all go when nobody holds or waits", async () => {
  await using redis = await connect(url);
  const name = unique("ttl");
  const mutex = new Mutex(redis, name, { leaseMs: 5_000 });
  const lease = await mutex.acquire();
  const waiting = mutex.acquire();
  await delay(30);
  for (const [key, ttl] of await keysOf(redis, name)) {
    if (key === "fence") continue;
    assert.ok(ttl > 0, `${key} has no TTL`);
  }
  await lease.release();
  const second = await waiting;
  await second.release();
  const keys = await keysOf(redis, name);
  assert.deepEqual([...keys.keys()], ["fence"]);
});

test("mutex: leases run on the server's clock: a client clock years off changes nothing", async () => {
  const realNow = Date.now;
  Date.now = () => realNow() + 10 * 365 * 86_400_000;
  try {
    await using redis = await connect(url);
    await using rival = await connect(url);
    const name = unique("clock");
    const mutex = new Mutex(redis, name, { leaseMs: 200 });
    const lease = await mutex.acquire();
    await delay(400); // renewed twice meanwhile
    assert.ok(lease.held);
    assert.equal(await new Mutex(rival, name).tryAcquire(), undefined);
    await lease.release();
    const crashed = await new Mutex(rival, name, {
      leaseMs: 100,
      renew: false,
    }).acquire();
    const started = performance.now();
    const next = await mutex.acquire(AbortSignal.timeout(3_000));
    assert.ok(performance.now() - started < 1_000);
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
    `${prefix}:{m}:fence`,
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
  await delay(20);
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
  const waiting = mutex.acquire(AbortSignal.timeout(5_000));
  await delay(30);
  await lease.release();
  const next = await waiting;
  assert.ok(next.token > lease.token);
  const aborted = await mutex.acquire(AbortSignal.timeout(20)).catch((e) => e);
  assert.equal(aborted.name, "TimeoutError");
  await next.release();
  assert.deepEqual([...(await keysOf(redis, name)).keys()], ["fence"]);
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
  assert.ok(waited >= 650 && waited < 5_000, `waited ${waited} ms`);
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
  await delay(30);
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
  assert.ok(after <= 600 + 500, `noticed after ${after} ms`);
});

test("mutex: a waiter granted after a long wait gets the full lease, not what is left of its wait", async () => {
  await using redis = await connect(url);
  const name = unique("longwait");
  // Short leases, long waits: the grant comes long after the BLPOP started.
  const options = { leaseMs: 300, waiterTtlMs: 3_000 };
  const holder = await new Mutex(redis, name, options).acquire();
  const waiting = new Mutex(redis, name, options).acquire();
  await delay(800); // the holder renews meanwhile
  await holder.release();
  const lease = await waiting;
  assert.ok(lease.remainingMs > 200, `only ${lease.remainingMs} ms left`);
  await delay(700); // renewals keep it
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
  const lease = await new Mutex(redis, name, { leaseMs: 600 }).acquire();
  await redis.close();
  const started = performance.now();
  // close() released it, and told the holder (already, or soon).
  if (!lease.signal.aborted) {
    await new Promise((r) => lease.signal.addEventListener("abort", r));
  }
  assert.ok(lease.signal.reason instanceof LockLostError);
  assert.ok(performance.now() - started < 600, "it waited for the deadline");
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
  await delay(50);
  await redis.send("SCRIPT", "FLUSH"); // as after a restart or failover
  controller.abort();
  await other.close(); // the cleanup must already be complete on the wire
  await holder.release();
  const next = await mutex.tryAcquire();
  assert.ok(next, "a waiter that left was handed the mutex");
  await next.release();
});
