import assert from "node:assert/strict";
import {
  AutoResetEvent,
  connect,
  ConnectionError,
  ManualResetEvent,
  Mutex,
  ReadWriteLock,
  RedisReplyError,
  RedisUnavailableError,
  Semaphore,
} from "../mod.ts";
import { unavailable } from "../src/_internal/transient.ts";
import { startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { until } from "./_until.ts";

/** `error` is the typed error for `code`, never a raw reply error. */
function assertUnavailable(what: string, error: unknown, code?: string) {
  assert.ok(error instanceof RedisUnavailableError, `${what}: ${error}`);
  assert.ok(error instanceof ConnectionError, what); // what users catch
  assert.equal(error.name, "RedisUnavailableError", what);
  assert.equal(error.code, code, what);
  if (code !== undefined) {
    assert.ok(error.cause instanceof RedisReplyError, `${what}: cause`);
    assert.equal(error.cause.code, code, `${what}: cause code`);
    assert.ok(error.message.includes(code), `${what}: ${error.message}`);
  }
}

test("unavailable: every transient state becomes RedisUnavailableError with its code; other errors stay as they are", () => {
  for (const code of ["LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN"]) {
    const raw = new RedisReplyError(`${code} the server says so`);
    assertUnavailable(code, unavailable(raw), code);
  }
  const tryAgain = new RedisReplyError("TRYAGAIN Multiple keys request");
  assertUnavailable("TRYAGAIN", unavailable(tryAgain), "TRYAGAIN");
  const lost = new ConnectionError("Connection to 127.0.0.1:1 lost");
  const typed = unavailable(lost);
  assertUnavailable("lost", typed);
  assert.equal((typed as Error).cause, lost);
  assert.match((typed as Error).message, /127\.0\.0\.1:1 lost/);
  // Final: left alone (and nothing is wrapped twice).
  const wrong = new RedisReplyError("WRONGTYPE Operation against a key");
  assert.equal(unavailable(wrong), wrong);
  assert.equal(unavailable(typed), typed);
  assert.equal(unavailable(lost, true), lost); // a closed client: final
});

test("unavailable: with Redis BUSY running a script, tryAcquire retries within its bound then rejects with RedisUnavailableError (BUSY); acquire and event waits wait it out; release, extend and event calls never see a raw reply error", async () => {
  await using server = await startRedis();
  await using redis = await connect({
    url: server.url,
    commandTimeoutMs: 2_000,
  });
  await using blocker = await connect({
    url: server.url,
    commandTimeoutMs: 120_000,
  });
  const name = unique("busy");
  const mutex = new Mutex(redis, name);
  const semaphore = await Semaphore.create(redis, name + ":s", { permits: 2 });
  const rw = new ReadWriteLock(redis, name + ":rw");
  (await rw.tryRead())?.release(); // its name checked while Redis answers
  const held = await new Mutex(redis, name + ":held", { renew: false })
    .acquire();
  const extended = await new Mutex(redis, name + ":ext", { renew: false })
    .acquire();
  const manual = new ManualResetEvent(redis, name + ":m");
  const auto = new AutoResetEvent(redis, name + ":a");
  const waiter = new Mutex(redis, name + ":waited");
  const taken = await waiter.acquire(); // freed while Redis is busy

  await redis.send("CONFIG", "SET", "busy-reply-threshold", "50");
  const looping = blocker.send("EVAL", "while true do end", 0).catch((e) => e);
  await until("Redis answers BUSY", async () => {
    const error = await redis.send("PING").catch((e) => e);
    return error instanceof RedisReplyError && error.code === "BUSY";
  });
  try {
    // Waits started now wait it out; an event wait too.
    const acquiring = waiter.acquire();
    const waiting = manual.wait();
    const gaveUp = waiter.acquire(AbortSignal.timeout(300)).catch((e) => e);

    // Every try: the typed error, with the code, within its bound.
    const tries: [string, () => Promise<unknown>][] = [
      ["Mutex.tryAcquire", () => mutex.tryAcquire()],
      ["Semaphore.tryAcquire", () => semaphore.tryAcquire()],
      ["ReadWriteLock.tryRead", () => rw.tryRead()],
      ["ReadWriteLock.tryWrite", () => rw.tryWrite()],
      [
        "runExclusive skip",
        () => mutex.runExclusive(() => {}, { wait: "skip" }),
      ],
    ];
    const started = performance.now();
    const errors = await Promise.all(tries.map(([, t]) => t().catch((e) => e)));
    const tookMs = performance.now() - started;
    tries.forEach(([what], i) => assertUnavailable(what, errors[i], "BUSY"));
    // It kept trying (not the first reply), and stopped (not forever).
    assert.ok(tookMs > 500, `gave up after ${Math.round(tookMs)} ms`);
    assert.ok(tookMs < 40_000, `took ${Math.round(tookMs)} ms`);
    // A signal still ends it with its own reason.
    const aborted = await mutex.tryAcquire(AbortSignal.timeout(200))
      .catch((e) => e);
    assert.equal((aborted as Error).name, "TimeoutError", String(aborted));

    const calls: [string, () => Promise<unknown>][] = [
      ["Lease.extend", () => extended.extend(30_000)],
      ["ManualResetEvent.set", () => manual.set()],
      ["ManualResetEvent.clear", () => manual.clear()],
      ["ManualResetEvent.isSet", () => manual.isSet()],
      ["AutoResetEvent.set", () => auto.set()],
      ["AutoResetEvent.clear", () => auto.clear()],
      ["mutex.info", () => mutex.info()],
    ];
    for (const [what, call] of calls) {
      assertUnavailable(what, await call().catch((e) => e), "BUSY");
    }
    // release() resolves: it is retried in the background until it lands.
    await held.release();
    await taken.release(); // the waiter's turn, once Redis answers

    // acquire(signal) still rejects with signal.reason after BUSY replies.
    const error = await gaveUp;
    assert.equal((error as Error).name, "TimeoutError", String(error));
    assert.ok(!(error instanceof RedisReplyError));

    await redis.send("SCRIPT", "KILL");
    assert.ok(await looping instanceof RedisReplyError); // killed
    // The waits went on and now end normally.
    const lease = await acquiring;
    assert.ok(lease.held);
    await manual.set();
    await waiting;
    await lease.release();
    // The background release landed: the lock is free.
    await until("the held lock was released", async () => {
      const again = await new Mutex(redis, name + ":held").tryAcquire();
      await again?.release();
      return again !== undefined;
    });
    await extended.release();
  } finally {
    await redis.send("SCRIPT", "KILL").catch(() => {});
    await looping;
  }
});

test("unavailable: tryAcquire while Redis is down rejects with RedisUnavailableError (no code), a ConnectionError", async () => {
  await using server = await startRedis();
  await using redis = await connect({
    url: server.url,
    commandTimeoutMs: 1_000,
  });
  const mutex = new Mutex(redis, unique("down"));
  (await mutex.tryAcquire())?.release();
  await server.kill();
  const started = performance.now();
  const error = await mutex.tryAcquire().catch((e) => e);
  assertUnavailable("down", error);
  assert.ok(error.cause instanceof ConnectionError, String(error.cause));
  assert.ok(performance.now() - started < 40_000);
  await server.restart();
  // The client reconnects with backoff: a loaded machine may take longer
  // than the 1 s bound of one tryAcquire().
  await until(
    "the client reconnected",
    async () => await redis.send("PING").catch(() => "") === "PONG",
    20_000,
  );
  const lease = await mutex.tryAcquire();
  assert.ok(lease, "free once Redis is back");
  await lease.release();
});
