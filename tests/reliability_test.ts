/**
 * Faults around the lock engine: vanished waiters, cleanups that meet a dead
 * connection, transient errors.
 */
import assert from "node:assert/strict";
import { AutoResetEvent, connect, Mutex } from "../mod.ts";
import { internalsOf } from "../src/client/client.ts";
import { sharedRedisUrl, startRedis } from "../harness/server.ts";
import { startProxy } from "../harness/proxy.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { delay, until } from "./_until.ts";

const url = sharedRedisUrl();

test("reliability: a waiter that vanished while queued holds a grant only until its heartbeat lapses, not a whole lease", async () => {
  await using redis = await connect(url);
  const ghostClient = await connect(url);
  const name = unique("vanished");
  const leaseMs = 20_000;
  const holder = await new Mutex(redis, name, { leaseMs }).acquire();
  // The ghost queues first, with a short heartbeat, then its process is
  // gone: its connections close and nothing it would send reaches Redis.
  const ghost = new Mutex(ghostClient, name, { leaseMs, waiterTtlMs: 900 })
    .acquire();
  ghost.catch(() => {});
  await until(
    "the ghost to queue",
    async () => (await new Mutex(redis, name).info()).waiters === 1,
  );
  const live = new Mutex(redis, name, { leaseMs }).acquire(
    AbortSignal.timeout(18_000),
  );
  await until(
    "the live waiter to queue",
    async () => (await new Mutex(redis, name).info()).waiters === 2,
  );
  // Like a killed process: nothing released, no undo reaches Redis.
  await ghostClient.close({ release: false });
  await holder.release(); // the ghost, first in line and not yet lapsed, is granted
  const info = await new Mutex(redis, name).info();
  assert.equal(info.holders.length, 1);
  assert.ok(
    info.holders[0].remainingMs <= 900,
    `the ghost's grant lasts ${info.holders[0].remainingMs} ms`,
  );
  const started = performance.now();
  const lease = await live; // after the ghost's heartbeat, not its 20 s lease
  assert.ok(performance.now() - started < 15_000);
  // The live waiter's grant, bounded by its own heartbeat (10 s), is
  // renewed to the whole 20 s lease in the background.
  await until(
    "the grant to be renewed to the lease",
    () => lease.remainingMs > 12_000,
    15_000,
  );
  await lease.release();
});

test("reliability: an abort's undo that meets a dead connection is retried until it lands (no ghost grant)", async () => {
  await using server = await startRedis();
  await using proxy = await startProxy(server.port);
  await using direct = await connect(server.url);
  await using viaProxy = await connect({
    url: proxy.url,
    commandTimeoutMs: 500,
    reconnect: { minDelayMs: 20, maxDelayMs: 100 },
  });
  const name = unique("ghost");
  const holder = await new Mutex(direct, name).acquire();
  const controller = new AbortController();
  const waiting = new Mutex(viaProxy, name).acquire(controller.signal);
  waiting.catch(() => {});
  await until(
    "the waiter to queue",
    async () => (await new Mutex(direct, name).info()).waiters === 1,
  );
  // The waiter's connections go half-open, then it gives up: its undo is
  // written into a dead socket and fails when that times out.
  proxy.freeze();
  controller.abort();
  await assert.rejects(waiting, { name: "AbortError" });
  // Retried on a fresh connection, the undo takes it out of the queue...
  await until(
    "the undo to land",
    async () => (await new Mutex(direct, name).info()).queued === 0,
    15_000,
  );
  await holder.release();
  // ...so the release hands the mutex to nobody: it is free at once.
  const next = await new Mutex(direct, name).tryAcquire();
  assert.ok(next, "a ghost grant holds the mutex");
  await next.release();
});

test("reliability: a release that meets a dead connection resolves, and lands in the background", async () => {
  await using server = await startRedis();
  await using proxy = await startProxy(server.port);
  await using direct = await connect(server.url);
  await using viaProxy = await connect({
    url: proxy.url,
    commandTimeoutMs: 300,
    reconnect: { minDelayMs: 20, maxDelayMs: 100 },
  });
  const name = unique("release");
  const lease = await new Mutex(viaProxy, name).acquire();
  proxy.freeze();
  // Not held up until the lease ends (30 s), and no error to handle.
  await lease.release();
  assert.ok(!lease.held);
  await until(
    "the release to land",
    async () => (await new Mutex(direct, name).info()).holders.length === 0,
    15_000,
  );
});

test("reliability: a Redis that may evict lock keys is reported once through the logger; noeviction is not", async () => {
  for (const policy of ["volatile-lru", "noeviction"]) {
    await using server = await startRedis({
      args: ["--maxmemory-policy", policy],
    });
    await using redis = await connect(server.url);
    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn: (message: string) => warnings.push(message),
      error() {},
    };
    const mutex = new Mutex(redis, unique("evict"), { logger });
    for (let i = 0; i < 3; i++) await (await mutex.acquire()).release();
    // The check runs off the path to the lock, on the client's one cached
    // read of the policy: once that settles, a warning has been logged.
    await internalsOf(redis).evictionPolicy();
    if (policy === "noeviction") {
      assert.deepEqual(warnings, []);
    } else {
      assert.equal(warnings.length, 1, warnings.join("\n"));
      assert.match(warnings[0], /volatile-lru.*noeviction/);
    }
  }
});

test("reliability: an abort while Redis is frozen (CLIENT PAUSE) rejects at once; the cleanup lands afterwards", async () => {
  await using server = await startRedis();
  await using admin = await connect(server.url);
  await using redis = await connect(server.url);
  const name = unique("frozen");
  const holder = await new Mutex(admin, name).acquire();
  const event = new AutoResetEvent(redis, unique("frozen-event"));
  await admin.send("CLIENT", "PAUSE", 4_000, "ALL");
  const controller = new AbortController();
  const waits = [
    new Mutex(redis, name).acquire(controller.signal),
    event.wait(controller.signal),
  ];
  // Both commands are written by now, stuck in the paused server (were
  // they not, the aborts would only be quicker).
  await delay(100);
  const abortedAt = performance.now();
  controller.abort();
  for (const wait of waits) {
    await assert.rejects(wait, { name: "AbortError" });
    // Generous: prompt, not at the end of the 4 s pause.
    assert.ok(performance.now() - abortedAt < 2_000);
  }
  // After the pause the undos land: nothing queued, nothing held but the holder.
  await until("the undos to land", async () => {
    const info = await new Mutex(admin, name).info();
    return info.queued === 0 && info.holders.length === 1;
  }, 20_000);
  await holder.release();
  assert.ok(await event.set());
  assert.equal(await event.pending(), 1, "the signal waits for a live waiter");
});

test("reliability: a poller is not starved by blocking waiters on the same name", async () => {
  await using redis = await connect(url);
  await using pollerClient = await connect(url);
  const name = unique("mixed");
  const blocking = new Mutex(redis, name);
  const poller = new Mutex(pollerClient, name, {
    wait: { strategy: "polling", intervalMs: 5, maxIntervalMs: 50 },
  });
  // Counted in grants, not in ms: how fast they come is the machine's.
  const total = 300;
  const counts = { blocking: 0, polling: 0 };
  let longestPollerWait = 0; // blocking grants while the poller waited
  const loop = async (mutex: Mutex, kind: keyof typeof counts) => {
    while (counts.blocking + counts.polling < total) {
      const before = counts.blocking;
      const lease = await mutex.acquire(AbortSignal.timeout(20_000));
      if (kind === "polling") {
        longestPollerWait = Math.max(
          longestPollerWait,
          counts.blocking - before,
        );
      }
      counts[kind]++;
      await delay(2);
      await lease.release();
    }
  };
  await Promise.all([
    ...Array.from({ length: 4 }, () => loop(blocking, "blocking")),
    loop(poller, "polling"),
  ]);
  // Before pollers queued behind blocking waiters, they got ~0 turns here;
  // in line, about one in five, behind at most the 4 blocking waiters.
  assert.ok(counts.polling >= 5, JSON.stringify(counts));
  assert.ok(
    longestPollerWait < 40,
    `the poller waited for ${longestPollerWait} blocking grants`,
  );
});

test("reliability: a lease whose owners entry was evicted is lost at its next renewal, and the next waiter gets the lock", async () => {
  await using redis = await connect(url);
  const name = unique("evicted");
  const lease = await new Mutex(redis, name, { leaseMs: 600 }).acquire();
  const waiting = new Mutex(redis, name).acquire(AbortSignal.timeout(20_000));
  // What a volatile-* eviction does: the whole owners hash is gone.
  await redis.send("DEL", `redsync:{${name}}:owners`);
  const lost = new Promise((resolve) =>
    lease.signal.addEventListener("abort", resolve, { once: true })
  );
  // The renewal (after a third of 600 ms) finds no owner: lost.
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    lost,
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("renewed a lease with no owner")),
        10_000,
      );
    }),
  ]).finally(() => clearTimeout(timer));
  assert.equal(lease.signal.reason.name, "LockLostError");
  const next = await waiting;
  assert.ok(next.held);
  await next.release();
});
