import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  connect,
  DisposedError,
  type Lease,
  Mutex,
  type RedisClient,
  Semaphore,
  SemaphoreMismatchError,
} from "../mod.ts";
// Not exported from mod.ts yet.
import { ReadWriteLock } from "../src/locks/rw_lock.ts";
import { sharedRedisUrl } from "../harness/server.ts";
import { type Script, startScript } from "../harness/spawn.ts";
import { test } from "./_test.ts";
import { namer } from "./_names.ts";
import { delay, until } from "./_until.ts";

const url = sharedRedisUrl();
const unique = namer("rw");
const workerFile = fileURLToPath(new URL("./_rw_worker.ts", import.meta.url));
const WRITE = 100_000;

async function clients(n: number): Promise<RedisClient[]> {
  return await Promise.all(Array.from({ length: n }, () => connect(url)));
}

/** Whether `promise` is still pending after `ms`. */
async function pending(promise: Promise<unknown>, ms = 50): Promise<boolean> {
  const marker = Symbol();
  return await Promise.race([promise, delay(ms).then(() => marker)]) ===
    marker;
}

const polling = {
  strategy: "polling",
  intervalMs: 1,
  maxIntervalMs: 20,
} as const;

test("rwlock: many readers at once; a writer excludes readers and writers", async () => {
  const all = await clients(4);
  try {
    const name = unique("basic");
    const locks = all.map((c) => new ReadWriteLock(c, name));
    const reads = await Promise.all(locks.map((l) => l.read()));
    assert.equal(new Set(reads.map((r) => r.token)).size, 4);
    assert.ok(reads.every((r) => r.permits === 1));
    const info = await locks[0].info();
    assert.equal(info.holders.length, 4);
    assert.equal(info.permits, WRITE);
    assert.equal(await locks[0].tryWrite(), undefined);
    // A writer waits for every reader, and new readers wait behind it.
    const writing = locks[1].write(AbortSignal.timeout(20_000));
    assert.ok(await pending(writing));
    assert.equal(await locks[2].tryRead(), undefined, "a writer waits");
    const later = locks[3].read(AbortSignal.timeout(20_000));
    for (const read of reads.slice(0, 3)) await read.release();
    assert.ok(await pending(writing), "one reader still holds");
    assert.ok(await pending(later));
    await reads[3].release();
    const write = await writing;
    assert.equal(write.permits, WRITE);
    assert.ok(await pending(later), "readers wait for the writer");
    assert.equal(await locks[0].tryRead(), undefined);
    assert.equal(await locks[0].tryWrite(), undefined);
    await write.release();
    const read = await later;
    // Free again: a read does not block another read.
    const second = await locks[0].tryRead();
    assert.ok(second);
    await Promise.all([read.release(), second.release()]);
    await using lease = await locks[2].tryWrite();
    assert.ok(lease, "free once everyone left");
  } finally {
    await Promise.all(all.map((c) => c.close()));
  }
});

test("rwlock: readers queued behind a writer are let in together when it leaves; the next writer waits for them", async () => {
  const all = await clients(6);
  try {
    const name = unique("batch");
    const locks = all.map((c) => new ReadWriteLock(c, name));
    const first = await locks[0].write();
    const queued = async (n: number) => {
      await until(
        `${n} to queue`,
        async () => (await locks[0].info()).queued === n,
      );
    };
    const readers = [1, 2, 3].map((i) =>
      locks[i].read(AbortSignal.timeout(20_000))
    );
    await queued(3);
    const writer = locks[4].write(AbortSignal.timeout(20_000));
    await queued(4);
    const last = locks[5].read(AbortSignal.timeout(20_000));
    await queued(5);
    await first.release();
    const leases = await Promise.all(readers);
    assert.ok(leases.every((l) => l.token > first.token));
    assert.ok(await pending(writer), "the next writer waits for them");
    assert.ok(await pending(last), "the reader behind it waits too");
    await Promise.all(leases.map((l) => l.release()));
    const second = await writer;
    assert.ok(second.token > Math.max(...leases.map((l) => l.token)));
    assert.ok(await pending(last));
    await second.release();
    await (await last).release();
  } finally {
    await Promise.all(all.map((c) => c.close()));
  }
});

for (const wait of ["blocking", polling] as const) {
  const label = typeof wait === "string" ? wait : wait.strategy;
  test(
    `rwlock: 8 clients reading and writing never overlap a writer; tokens of writes are above all before (${label})`,
    async () => {
      const all = await clients(8);
      try {
        const name = unique("oracle");
        let readers = 0;
        let writers = 0;
        let most = 0;
        let largest = 0;
        let writes = 0;
        await Promise.all(all.map(async (client, i) => {
          const lock = new ReadWriteLock(client, name, { wait });
          for (let n = 0; n < 30; n++) {
            const write = (n + i) % 5 === 0;
            const lease = write
              ? await lock.write(AbortSignal.timeout(20_000))
              : await lock.read(AbortSignal.timeout(20_000));
            if (write) {
              writers++;
              writes++;
              assert.equal(writers, 1, "two writers");
              assert.equal(readers, 0, "a writer among readers");
              assert.ok(lease.token > largest, "a write's token is not above");
            } else {
              readers++;
              most = Math.max(most, readers);
              assert.equal(writers, 0, "a reader beside a writer");
            }
            largest = Math.max(largest, lease.token);
            await delay(Math.random() * 3);
            if (write) writers--;
            else readers--;
            await lease.release();
          }
        }));
        assert.equal(writes, 48);
        assert.ok(most > 1, "the test saw no concurrent readers");
      } finally {
        await Promise.all(all.map((c) => c.close()));
      }
    },
    { timeoutMs: 60_000 },
  );
}

test(
  "rwlock: 4 OS processes reading and writing: a Redis-side oracle sees no writer beside anyone",
  async () => {
    const name = unique("proc");
    const workers: Script[] = [0, 1, 2, 3].map((i) =>
      startScript(workerFile, [
        "loop",
        url,
        name,
        "60",
        i === 3 ? "polling" : "blocking",
        "0.2",
      ])
    );
    try {
      const results = (await Promise.all(workers.map((w) => w.lines))).map((
        lines,
      ) => lines.at(-1)!);
      let reads = 0;
      let writes = 0;
      for (const result of results) {
        assert.equal(result.violations, 0, "a writer overlapped someone");
        assert.equal(
          result.tokenViolations,
          0,
          "a write's token was not above",
        );
        reads += result.reads;
        writes += result.writes;
      }
      assert.equal(reads + writes, 240);
      assert.ok(writes > 10 && reads > 100, `${reads} reads, ${writes} writes`);
      const most = Math.max(...results.map((r) => r.maxReaders));
      assert.ok(most > 1, "the test saw no concurrent readers");
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  },
  { timeoutMs: 60_000 },
);

for (const wait of ["blocking", polling] as const) {
  const label = typeof wait === "string" ? wait : wait.strategy;
  test(
    `rwlock: a writer is not starved by a steady stream of overlapping readers (${label})`,
    async () => {
      const all = await clients(5);
      try {
        const name = unique("starve");
        const loops = 4;
        let stop = false;
        let granted = 0;
        let holding = 0;
        let writerHolds = false;
        const readersDone = Promise.all(
          all.slice(0, loops).map(async (c) => {
            const lock = new ReadWriteLock(c, name, { wait });
            while (!stop) {
              const lease = await lock.read(AbortSignal.timeout(10_000));
              granted++;
              holding++;
              assert.ok(!writerHolds, "a reader beside the writer");
              await delay(20 + Math.random() * 20);
              holding--;
              await lease.release();
            }
          }),
        );
        // The readers overlap: the lock is never free between them.
        await until("readers overlap", () => holding >= 2, 20_000);
        const writer = new ReadWriteLock(all[loops], name, { wait });
        const before = granted;
        const started = performance.now();
        const lease = await writer.write(AbortSignal.timeout(20_000));
        writerHolds = true;
        const during = granted - before;
        const waitedMs = performance.now() - started;
        assert.equal(holding, 0, "readers hold beside the writer");
        // Only reads already in flight when it queued: one per loop.
        assert.ok(during <= loops, `${during} reader grants while it waited`);
        await delay(30);
        assert.equal(granted - before, during, "a reader got in meanwhile");
        writerHolds = false;
        await lease.release();
        stop = true;
        await readersDone;
        console.log(
          `writer waited ${
            waitedMs.toFixed(0)
          } ms behind ${during} reads (${label})`,
        );
      } finally {
        await Promise.all(all.map((c) => c.close()));
      }
    },
    { timeoutMs: 30_000 },
  );
}

for (const held of ["read", "write"] as const) {
  test(
    `rwlock: a ${held} holder killed with SIGKILL frees the lock after its lease`,
    async () => {
      await using redis = await connect(url);
      const name = unique(`crash-${held}`);
      const leaseMs = 800;
      const holder = startScript(workerFile, [
        "hold",
        url,
        name,
        held,
        String(leaseMs),
      ]);
      try {
        const { acquired: deadToken } = await holder.first;
        const lock = new ReadWriteLock(redis, name, { leaseMs });
        // The opposite kind waits; a reader also queues behind a waiting writer.
        const queued = async (n: number) => {
          await until(
            `${n} to queue`,
            async () => (await lock.info()).queued === n,
          );
        };
        const waits = held === "read"
          ? [lock.write(AbortSignal.timeout(30_000))]
          : [
            lock.read(AbortSignal.timeout(30_000)),
            lock.read(AbortSignal.timeout(30_000)),
          ];
        if (held === "read") {
          await queued(1);
          waits.push(lock.read(AbortSignal.timeout(30_000)));
        }
        await queued(2);
        const killedAt = performance.now();
        await holder.stop();
        // The reader queued behind the writer gets in once the writer left.
        const leases = held === "read"
          ? [await waits[0]]
          : await Promise.all(waits);
        const recoveryMs = performance.now() - killedAt;
        console.log(
          `recovery after SIGKILL of a ${held} holder: ${
            recoveryMs.toFixed(0)
          } ms (lease ${leaseMs} ms)`,
        );
        // After its lease (no release came), however late the timers run.
        assert.ok(recoveryMs <= leaseMs + 10_000, `took ${recoveryMs} ms`);
        for (const lease of leases) assert.ok(lease.token > deadToken);
        if (held === "read") {
          assert.ok(await pending(waits[1]), "a reader beside the writer");
          await leases[0].release();
          const read = await waits[1];
          assert.ok(read.token > leases[0].token);
          await read.release();
        } else {
          await Promise.all(leases.map((l) => l.release()));
        }
      } finally {
        await holder.stop();
      }
    },
    { timeoutMs: 60_000 },
  );
}

for (const wait of ["blocking", polling] as const) {
  const label = typeof wait === "string" ? wait : wait.strategy;
  test(`rwlock: an aborted write() rejects with signal.reason, leaves no queue entry, and the readers behind it go on (${label})`, async () => {
    const all = await clients(3);
    try {
      const name = unique("abort");
      const [a, b, c] = all.map((x) => new ReadWriteLock(x, name, { wait }));
      const read = await a.read();
      const controller = new AbortController();
      const writing = b.write(controller.signal);
      await until(
        "the writer queues",
        async () => (await a.info()).queued === 1,
      );
      const reading = c.read(AbortSignal.timeout(20_000));
      assert.ok(await pending(reading), "the reader waits behind the writer");
      const reason = new Error("changed my mind");
      controller.abort(reason);
      await assert.rejects(writing, (e) => e === reason);
      // The reader behind it gets in while the first reader still holds.
      const second = await reading;
      assert.ok(read.signal.aborted === false);
      const info = await a.info();
      assert.equal(info.queued, 0);
      assert.equal(info.holders.length, 2);
      assert.ok(info.holders.every((h) => h.permits === 1));
      // Aborts before anything is sent, and at once, leave nothing either.
      const early = new AbortController();
      early.abort();
      await assert.rejects(
        b.write(early.signal),
        (e) => e === early.signal.reason,
      );
      for (let hops = 0; hops < 6; hops++) {
        const late = new AbortController();
        const attempt = b.write(late.signal);
        let n = hops;
        const hop = () => n-- > 0 ? queueMicrotask(hop) : late.abort();
        hop();
        await assert.rejects(attempt, (e) => e === late.signal.reason);
      }
      await read.release();
      await second.release();
      await until("nothing left", async () => {
        const now = await a.info();
        return now.queued === 0 && now.holders.length === 0;
      });
      await using write = await b.tryWrite();
      assert.ok(write, "the write lock is free");
    } finally {
      await Promise.all(all.map((x) => x.close()));
    }
  });
}

test("rwlock: fencing tokens: a write's token is above every earlier read's and write's", async () => {
  await using redis = await connect(url);
  const lock = new ReadWriteLock(redis, unique("fence"));
  const seen: number[] = [];
  for (let round = 0; round < 3; round++) {
    const reads = await Promise.all([lock.read(), lock.read(), lock.read()]);
    seen.push(...reads.map((r) => r.token));
    await Promise.all(reads.map((r) => r.release()));
    const write = await lock.write();
    assert.ok(write.token > Math.max(...seen), "write below an earlier token");
    seen.push(write.token);
    await write.release();
  }
  // Reads after a write are above it too: one counter for both kinds.
  const after = await lock.read();
  assert.ok(after.token > Math.max(...seen));
  await after.release();
});

test("rwlock: a mutex or a semaphore of another count cannot share the name, either way round", async () => {
  await using redis = await connect(url);
  const name = unique("kinds");
  const lock = new ReadWriteLock(redis, name);
  await (await lock.read()).release();
  await assert.rejects(
    new Mutex(redis, name).acquire(),
    SemaphoreMismatchError,
  );
  await assert.rejects(
    Semaphore.create(redis, name, { permits: 3 }),
    SemaphoreMismatchError,
  );
  // A name a mutex holds is refused before anything is granted.
  const taken = unique("taken");
  const mutexLease = await new Mutex(redis, taken).acquire();
  const other = new ReadWriteLock(redis, taken);
  const error = await other.read().catch((e) => e);
  assert.ok(error instanceof SemaphoreMismatchError);
  assert.equal(error.existing, 1);
  assert.equal(await other.tryWrite().catch((e) => e.name), error.name);
  await mutexLease.release();
  // And a semaphore's name.
  const sem = unique("sem");
  await Semaphore.create(redis, sem, { permits: 2 });
  await assert.rejects(
    new ReadWriteLock(redis, sem).write(),
    SemaphoreMismatchError,
  );
});

test("rwlock: bad arguments are TypeError/RangeError before anything is written", async () => {
  await using redis = await connect(url);
  const prefix = unique("bad");
  assert.throws(() => new ReadWriteLock(redis, ""), RangeError);
  assert.throws(
    () => new ReadWriteLock(redis, 7 as unknown as string),
    TypeError,
  );
  assert.throws(
    () => new ReadWriteLock(redis, "x", { prefix, leaseMs: 1 }),
    RangeError,
  );
  assert.throws(
    () => new ReadWriteLock(redis, "x", { prefix, idleTtlMs: 10 }),
    RangeError,
  );
  const lock = new ReadWriteLock(redis, "x", { prefix });
  await assert.rejects(lock.read("soon" as unknown as AbortSignal), TypeError);
  await assert.rejects(
    lock.write({ signal: 5 as unknown as AbortSignal }),
    TypeError,
  );
  await assert.rejects(
    lock.runRead(undefined as unknown as () => void),
    TypeError,
  );
  await assert.rejects(lock.runWrite(() => 1, { wait: -1 }), RangeError);
  assert.deepEqual(await redis.send("KEYS", `${prefix}:*`), []);
});

test("rwlock: runRead/runWrite run and release; skip when taken; dispose releases and rejects", async () => {
  await using redis = await connect(url);
  const name = unique("run");
  const lock = new ReadWriteLock(redis, name);
  const read = await lock.runRead(async (signal, lease) => {
    assert.equal(signal.aborted, false);
    assert.equal(lease.permits, 1);
    const inner = await lock.runRead(() => "nested read", { wait: "skip" });
    assert.deepEqual(inner, { ran: true, value: "nested read" });
    assert.deepEqual(await lock.runWrite(() => 1, { wait: "skip" }), {
      ran: false,
    });
    return "read";
  });
  assert.deepEqual(read, { ran: true, value: "read" });
  const write = await lock.runWrite((_signal, lease) => lease.permits);
  assert.deepEqual(write, { ran: true, value: WRITE });
  // Dispose: held leases released, waits rejected, later calls too.
  const other = new ReadWriteLock(redis, name);
  const held: Lease = await other.write();
  const waiting = lock.read(AbortSignal.timeout(20_000));
  await until(
    "the reader to queue",
    async () => (await lock.info()).queued === 1,
  );
  await lock[Symbol.asyncDispose]();
  await assert.rejects(waiting, DisposedError);
  await assert.rejects(lock.write(), DisposedError);
  await other[Symbol.asyncDispose]();
  await assert.rejects(held.extend(), Error, "the lease went with dispose");
  assert.equal((await new ReadWriteLock(redis, name).info()).holders.length, 0);
});
