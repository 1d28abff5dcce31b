/**
 * The library on Node.js: bundled by esbuild (TypeScript and `await using`
 * lowered for Node 20) and run with `node --test` by `tests/run.ts`. Not a
 * `*_test.ts` file, so Deno and Bun skip it.
 *
 * @module
 */
import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import {
  AutoResetEvent,
  connect,
  ConnectionError,
  ManualResetEvent,
  Mutex,
  Semaphore,
} from "../../mod.ts";

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const unique = (label: string) => `node:${label}:${crypto.randomUUID()}`;

test("node: the client pipelines, round-trips bytes and unblocks BLPOP on abort", async () => {
  await using redis = await connect(url);
  assert.equal(redis.protocol, 3);
  const replies = await Promise.all(
    Array.from({ length: 1_000 }, (_, i) => redis.send("ECHO", `${i}`)),
  );
  assert.equal(replies[999], "999");
  const key = unique("bytes");
  await redis.send("SET", key, new Uint8Array([0, 13, 10, 255]));
  assert.deepEqual([...await redis.sendBytes("GET", key) as Uint8Array], [
    0,
    13,
    10,
    255,
  ]);
  const error = await redis.command(["BLPOP", unique("none"), 0], {
    signal: AbortSignal.timeout(50),
  }).catch((e) => e);
  assert.equal(error.name, "TimeoutError");
  await redis.send("DEL", key);
  await assert.rejects(
    connect({ port: 1, connectTimeoutMs: 2_000 }),
    ConnectionError,
  );
});

test("node: mutex hand-off, semaphore limit and events", async () => {
  await using redis = await connect(url);
  const mutex = new Mutex(redis, unique("mutex"));
  const first = await mutex.acquire(AbortSignal.timeout(2_000));
  const waiting = mutex.acquire(AbortSignal.timeout(2_000));
  assert.equal(await mutex.tryAcquire(), undefined);
  await first.release();
  const second = await waiting;
  assert.ok(second.token > first.token);
  await second.release();

  const sem = await Semaphore.create(redis, unique("sem"), { permits: 2 });
  const a = await sem.acquire();
  const b = await sem.acquire();
  assert.equal(await sem.tryAcquire(), undefined);
  await a.release();
  await b.release();
  assert.deepEqual(await sem.runExclusive(() => 7, { wait: "skip" }), {
    ran: true,
    value: 7,
  });

  const auto = new AutoResetEvent(redis, unique("auto"));
  await auto.set();
  await auto.wait(AbortSignal.timeout(1_000));
  const manual = new ManualResetEvent(redis, unique("manual"));
  const woken = manual.wait(AbortSignal.timeout(2_000));
  await new Promise((r) => setTimeout(r, 20));
  await manual.set();
  await woken;
});
