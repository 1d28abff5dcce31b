/**
 * Graceful shutdown: `client.close()` releases the leases its client holds
 * and withdraws its waiters first, so a process stopped with SIGTERM frees
 * its permits at once, not after their leases.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  connect,
  ConnectionError,
  Lease,
  ManualResetEvent,
  Mutex,
  Semaphore,
} from "../mod.ts";
import { type Connector, defaultConnector } from "../src/transport/mod.ts";
import { forceRelease, inspect } from "../src/admin.ts";
import { sharedRedisUrl } from "../harness/server.ts";
import { startScript } from "../harness/spawn.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { until } from "./_until.ts";

const workerFile = fileURLToPath(
  new URL("./_shutdown_worker.ts", import.meta.url),
);

test(
  "shutdown: a process stopped with SIGTERM frees its permits and queue places at once",
  async () => {
    const url = sharedRedisUrl();
    await using redis = await connect(url);
    const semaphoreName = unique("shutdown-sem");
    const mutexName = unique("shutdown-mutex");
    // The test holds the mutex, so the worker's two acquires queue.
    await using _held = await new Mutex(redis, mutexName, { leaseMs: 60_000 })
      .acquire();
    const worker = startScript(workerFile, [url, semaphoreName, mutexName]);
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const first = await Promise.race([
        worker.first,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("not ready in 20 s")),
            20_000,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      assert.equal(first.ready, 1);
      const before = await inspect(redis, semaphoreName);
      assert.equal(before.holders.length, 2);
      assert.equal((await inspect(redis, mutexName)).waiters, 2);
      worker.child.kill("SIGTERM");
      const lines = await worker.lines;
      // The holders were told: their leases ended with the client.
      assert.deepEqual(lines.at(-1), { closed: 1, lost: 2 });
      // Free at once: the leases had 60 s left, the waiters' heartbeats
      // 30 s. (Within 3 s: the worker's last commands may still be on their
      // way through Redis when its exit is seen here.)
      const deadline = performance.now() + 3_000;
      for (;;) {
        const sem = await inspect(redis, semaphoreName);
        const mutex = await inspect(redis, mutexName);
        const done = sem.holders.length === 0 && mutex.waiters === 0;
        if (done || performance.now() > deadline) {
          assert.equal(sem.holders.length, 0);
          assert.equal(mutex.waiters, 0);
          assert.equal(mutex.holders.length, 1); // the test's own
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await worker.stop();
    }
  },
  { timeoutMs: 60_000 },
);

test(
  "shutdown: close() rejects this client's waits with ConnectionError; close({ release: false }) leaves leases to expire",
  async () => {
    const url = sharedRedisUrl();
    await using observer = await connect(url);
    const name = unique("shutdown-inproc");
    const a = await connect(url);
    const holder = await new Mutex(a, name, { leaseMs: 60_000 }).acquire();
    const b = await connect(url);
    const waiting = new Mutex(b, name).acquire().catch((e) => e);
    await new Promise((r) => setTimeout(r, 50));
    await b.close();
    const error = await waiting;
    assert.ok(error instanceof ConnectionError, String(error));
    assert.match(error.message, /is closing/);
    assert.equal((await inspect(observer, name)).waiters, 0);
    // release: false: the lease stays until it expires.
    await a.close({ release: false });
    assert.equal((await inspect(observer, name)).holders.length, 1);
    assert.equal(holder.signal.aborted, false); // lost at its next renewal
    await holder.release().catch(() => {}); // its client is closed: timers end
    await forceRelease(observer, name);
    await assert.rejects(observer.close({ timeoutMs: -1 }), RangeError);
    // A semaphore's leases are released by close() too.
    const c = await connect(url);
    const semaphore = await Semaphore.create(c, unique("shutdown-sem2"), {
      permits: 2,
      leaseMs: 60_000,
    });
    await semaphore.acquire();
    await c.close();
    assert.equal((await inspect(observer, semaphore.name)).holders.length, 0);
  },
);

test(
  "shutdown: close() resolves only once its releases and withdrawals were answered (checked right after, 15 times)",
  async () => {
    const url = sharedRedisUrl();
    await using observer = await connect(url);
    for (let i = 0; i < 15; i++) {
      const name = unique("shutdown-answered");
      const held = await new Mutex(observer, name, { leaseMs: 60_000 })
        .acquire();
      const client = await connect(url);
      const semaphore = await Semaphore.create(client, unique("s"), {
        permits: 3,
        leaseMs: 60_000,
      });
      await semaphore.acquire();
      await semaphore.acquire();
      const mutex = new Mutex(client, name, { waiterTtlMs: 30_000 });
      const waits = [mutex.acquire(), mutex.acquire()].map((w) =>
        w.catch(() => {})
      );
      for (let k = 0; k < 200; k++) {
        if ((await inspect(observer, name)).waiters === 2) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await client.close();
      await Promise.all(waits);
      // No waiting: close() resolved after Redis answered the cleanups.
      assert.equal((await inspect(observer, name)).waiters, 0, `round ${i}`);
      assert.equal(
        (await inspect(observer, semaphore.name)).holders.length,
        0,
        `round ${i}`,
      );
      await held.release();
    }
  },
  { timeoutMs: 60_000 },
);

test(
  "shutdown: acquires and waits started while close() runs reject with ConnectionError and leave nothing held (10 rounds)",
  async () => {
    const url = sharedRedisUrl();
    await using observer = await connect(url);
    for (let i = 0; i < 10; i++) {
      const client = await connect(url);
      // Something to release, so that close() has a window to wait in.
      await new Mutex(client, unique("shutdown-a"), { leaseMs: 60_000 })
        .acquire();
      const b = unique("shutdown-b");
      const c = unique("shutdown-c");
      const event = new ManualResetEvent(client, unique("shutdown-e"));
      const closed = client.close();
      // Started in the same tick as close(): per-request primitives.
      const late = [
        new Mutex(client, b, { leaseMs: 60_000 }).acquire(),
        new Mutex(client, c, {
          leaseMs: 60_000,
          wait: { strategy: "polling" },
        }).tryAcquire(),
        event.wait(),
      ].map((p) => p.then((value) => value, (error: unknown) => error));
      await closed;
      const outcomes = await Promise.all(late);
      // A lease handed out anyway: end its timers before asserting.
      for (const outcome of outcomes) {
        if (outcome instanceof Lease) await outcome.release().catch(() => {});
      }
      for (const outcome of outcomes) {
        const what = outcome instanceof Lease ? "a lease" : String(outcome);
        assert.ok(outcome instanceof ConnectionError, `round ${i}: ${what}`);
        assert.match(outcome.message, /is clos(ing|ed)/, `round ${i}`);
      }
      for (const name of [b, c]) {
        const info = await inspect(observer, name);
        assert.equal(info.holders.length, 0, `round ${i}: ${name} is held`);
        assert.equal(info.waiters, 0, `round ${i}: ${name} has waiters`);
      }
      const again = new ManualResetEvent(observer, event.name);
      assert.equal((await again.info()).waiters, 0, `round ${i}`);
    }
  },
  { timeoutMs: 60_000 },
);

test(
  "shutdown: a lease whose release is in flight when close() runs ends once, released (10 rounds)",
  async () => {
    const url = sharedRedisUrl();
    await using observer = await connect(url);
    for (let i = 0; i < 10; i++) {
      const client = await connect(url);
      const ends: string[] = [];
      const holds: number[] = [];
      let lostCalls = 0;
      const mutex = new Mutex(client, unique("shutdown-releasing"), {
        leaseMs: 60_000,
        metrics: {
          hold: (_name, ms) => holds.push(ms),
          lost: () => ends.push("lost metric"),
        },
        onLost: () => lostCalls++,
      });
      mutex.addEventListener("released", () => ends.push("released"));
      mutex.addEventListener("lost", () => ends.push("lost"));
      const lease = await mutex.acquire();
      const released = lease.release().then(() => "ok", (error) => error);
      await client.close();
      const outcome = await released;
      assert.deepEqual(ends, ["released"], `round ${i}`);
      assert.equal(outcome, "ok", `round ${i}`); // it landed
      assert.equal(holds.length, 1, `round ${i}`);
      assert.equal(lostCalls, 0, `round ${i}`);
      assert.equal(lease.signal.aborted, false, `round ${i}`);
      assert.equal(lease.held, false, `round ${i}`);
      const info = await inspect(observer, mutex.name);
      assert.equal(info.holders.length, 0, `round ${i}`);
    }
  },
  { timeoutMs: 60_000 },
);

test("shutdown: a client closed while its wake hub is still connecting closes that connection too, before close() resolves", async () => {
  await using admin = await connect(sharedRedisUrl());
  const name = unique("hub-closing");
  const holder = await new Mutex(admin, name).acquire();
  // Every connection after the first (the main one) is slow to answer its
  // handshake: the hub's is still being opened when the client closes.
  let opened = 0;
  const open = new Set<number>();
  const timers: ReturnType<typeof setTimeout>[] = [];
  const connector: Connector = async (options, handlers) => {
    const index = opened++;
    const transport = await defaultConnector()(options, {
      onData: (chunk) => {
        if (index === 0) handlers.onData(chunk);
        else timers.push(setTimeout(() => handlers.onData(chunk), 300));
      },
      onClose: (error) => {
        open.delete(index);
        handlers.onClose(error);
      },
    });
    open.add(index);
    return transport;
  };
  const redis = await connect({ url: sharedRedisUrl(), connector });
  const waiting = new Mutex(redis, name).acquire();
  waiting.catch(() => {});
  await until("the hub to start connecting", () => opened === 2);
  await redis.close();
  await assert.rejects(waiting);
  assert.deepEqual([...open], [], "a connection outlived close()");
  for (const timer of timers) clearTimeout(timer);
  await holder.release();
});
