/**
 * acquireAll: several locks as one lease, in one global order (no deadlock
 * for crossing orders, also across processes), all or nothing.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  acquireAll,
  connect,
  LockLostError,
  Mutex,
  Semaphore,
} from "../mod.ts";
import { forceRelease, inspect } from "../src/admin.ts";
import { sharedRedisUrl } from "../harness/server.ts";
import { startScript } from "../harness/spawn.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";

const workerFile = fileURLToPath(
  new URL("./_multi_worker.ts", import.meta.url),
);

test(
  "multi-lock: crossing orders across processes never deadlock nor overlap",
  async () => {
    const url = sharedRedisUrl();
    const names = [unique("x"), unique("y"), unique("z")];
    const workers = [
      startScript(workerFile, [url, "40", names[0], names[1], names[2]]),
      startScript(workerFile, [url, "40", names[2], names[1], names[0]]),
      startScript(workerFile, [url, "40", names[1], names[0]]),
    ];
    try {
      const results = await Promise.all(workers.map((w) => w.lines));
      for (const lines of results) {
        assert.deepEqual(lines.at(-1), { done: 40, violations: 0 });
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  },
  { timeoutMs: 120_000 },
);

test("multi-lock: all or nothing, one signal for every part, permits, bad input", async () => {
  const url = sharedRedisUrl();
  await using a = await connect(url);
  await using b = await connect(url);
  const [x, y] = [unique("x"), unique("y")];
  // y is held elsewhere: acquireAll([x, y]) times out and keeps nothing.
  const holder = await new Mutex(b, y).acquire();
  const error = await acquireAll(
    [new Mutex(a, x), new Mutex(a, y)],
    AbortSignal.timeout(300),
  ).catch((e) => e);
  assert.equal((error as Error).name, "TimeoutError");
  assert.equal((await inspect(a, x)).holders.length, 0);
  assert.equal((await inspect(a, y)).waiters, 0);
  await holder.release();
  // Both, with a semaphore's permits; tokens in the order given.
  const semaphore = await Semaphore.create(a, unique("s"), { permits: 3 });
  const all = await acquireAll([
    new Mutex(a, y, { leaseMs: 300 }),
    { lock: semaphore, permits: 2 },
    new Mutex(a, x),
  ]);
  assert.equal(all.leases.length, 3);
  assert.equal(all.leases[1].permits, 2);
  assert.equal(all.tokens.length, 3);
  // A lost part aborts the whole lease's signal.
  await forceRelease(a, y);
  const deadline = performance.now() + 5_000;
  while (!all.signal.aborted) {
    assert.ok(performance.now() < deadline, "the loss was noticed");
    await new Promise((r) => setTimeout(r, 20));
  }
  await all[Symbol.asyncDispose]();
  assert.equal((await inspect(a, x)).holders.length, 0);
  assert.equal((await inspect(a, semaphore.name)).holders.length, 0);
  // Bad input: before any call.
  const m = new Mutex(a, x);
  await assert.rejects(acquireAll([]), TypeError);
  await assert.rejects(acquireAll([m, new Mutex(a, x)]), /given twice/);
  await assert.rejects(
    acquireAll([{ lock: m, permits: 2 }]),
    /only a semaphore/,
  );
});

test("multi-lock: the same server under two names is the same lock, another db is not", async () => {
  const url = sharedRedisUrl();
  assert.match(url, /127\.0\.0\.1/);
  await using a = await connect(url);
  await using b = await connect(url.replace("127.0.0.1", "localhost"));
  await using db1 = await connect(`${url}/1`);
  const x = unique("x");
  assert.notEqual(a.url, b.url);
  // One lock twice: refused at once, not a wait on itself until the signal.
  const error = await acquireAll(
    [new Mutex(a, x), new Mutex(b, x)],
    AbortSignal.timeout(20_000),
  ).catch((e) => e);
  assert.ok(error instanceof TypeError, String(error));
  assert.match(error.message, /given twice/);
  assert.equal((await inspect(a, x)).holders.length, 0);
  // Database 1 of the same server holds another lock of that name.
  const both = await acquireAll(
    [new Mutex(db1, x), new Mutex(a, x)],
    AbortSignal.timeout(20_000),
  );
  assert.equal((await inspect(a, x)).holders.length, 1);
  assert.equal((await inspect(db1, x)).holders.length, 1);
  await both.release();
});

test("multi-lock: an early part lost while a later one is awaited rejects, keeping nothing", async () => {
  const url = sharedRedisUrl();
  await using a = await connect(url);
  await using b = await connect(url);
  const id = crypto.randomUUID();
  // Taken in this order: "a:..." first, then "b:..." (held elsewhere).
  const [first, second] = [`a:${id}`, `b:${id}`];
  const holder = await new Mutex(b, second).acquire();
  const early = new Mutex(a, first, { leaseMs: 300 });
  let lost = false;
  early.addEventListener("lost", () => lost = true);
  const settled = acquireAll(
    [new Mutex(a, second), early],
    AbortSignal.timeout(30_000),
  ).then((value) => ({ value }), (error) => ({ error }));
  // Wait until the first part is held and the second awaited.
  for (let i = 0; (await inspect(a, second)).waiters === 0; i++) {
    assert.ok(i < 500, "acquireAll waits for the second part");
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal((await inspect(a, first)).holders.length, 1);
  // The first part is lost (its renewal finds it gone) ...
  await forceRelease(a, first);
  for (let i = 0; !lost; i++) {
    assert.ok(i < 500, "the loss was noticed");
    await new Promise((r) => setTimeout(r, 10));
  }
  // ... then the second part becomes free.
  await holder.release();
  const outcome = await settled;
  if ("value" in outcome) {
    const aborted = outcome.value.signal.aborted;
    await outcome.value.release().catch(() => {});
    assert.fail(`acquireAll resolved (its signal aborted: ${aborted})`);
  }
  assert.ok(outcome.error instanceof LockLostError, String(outcome.error));
  assert.equal(outcome.error.lockName, first);
  // Nothing kept, nothing left waiting.
  const info = await inspect(a, second);
  assert.equal(info.holders.length, 0);
  assert.equal(info.waiters, 0);
  assert.equal((await inspect(a, first)).holders.length, 0);
});
