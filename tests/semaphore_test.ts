import assert from "node:assert/strict";
import {
  connect,
  type Lease,
  Mutex,
  type RedisClient,
  Semaphore,
  SemaphoreMismatchError,
} from "../mod.ts";
import { inspect } from "../src/admin.ts";
import { internalsOf } from "../src/client/client.ts";
import { sharedRedisUrl } from "../harness/server.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { delay, until } from "./_until.ts";

const url = sharedRedisUrl();

/** Waits until `n` acquires queue for `name` (default prefix). */
async function queued(
  redis: RedisClient,
  name: string,
  n: number,
): Promise<void> {
  await until(
    `${n} to queue`,
    async () => (await inspect(redis, name)).queued === n,
  );
}

async function clients(n: number): Promise<RedisClient[]> {
  return await Promise.all(Array.from({ length: n }, () => connect(url)));
}

/** Seeded xorshift, so a failing run can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
}

test("semaphore: create is idempotent for the same count and rejects another", async () => {
  await using redis = await connect(url);
  const name = unique("create");
  const a = await Semaphore.create(redis, name, { permits: 5 });
  const b = await Semaphore.create(redis, name, { permits: 5 });
  assert.equal(a.permits, 5);
  assert.equal(b.permits, 5);
  const error = await Semaphore.create(redis, name, { permits: 3 }).catch((
    e,
  ) => e);
  assert.ok(error instanceof SemaphoreMismatchError);
  assert.equal(error.existing, 5);
  assert.equal(error.requested, 3);
  // A mutex is a semaphore of one: it refuses a name with another count.
  await assert.rejects(
    new Mutex(redis, name).acquire(),
    SemaphoreMismatchError,
  );
  const ttl = await redis.send("PTTL", `redsync:{${name}}:meta`) as number;
  assert.ok(ttl > 0, "the definition has a TTL");
});

test("semaphore: init without Lua (WATCH/MULTI/EXEC) behaves the same", async () => {
  await using redis = await connect(url);
  const name = unique("tx");
  const results = await Promise.allSettled(
    [4, 4, 4, 4, 7].map((permits) =>
      Semaphore.create(redis, name, { permits, init: "transaction" })
    ),
  );
  const fulfilled = results.filter((r) => r.status === "fulfilled");
  const rejected = results.filter((r) => r.status === "rejected");
  // Concurrent creators agree on one count; the odd one out is told so.
  assert.equal(fulfilled.length + rejected.length, 5);
  const stored = Number(
    await redis.send("HGET", `redsync:{${name}}:meta`, "permits"),
  );
  for (const r of rejected) {
    assert.ok(r.reason instanceof SemaphoreMismatchError);
    assert.equal(r.reason.existing, stored);
  }
  assert.ok(stored === 4 || stored === 7);
  const script = await Semaphore.create(redis, name, { permits: stored });
  assert.equal(script.permits, stored);
});

test("semaphore: attach waits for the creator and learns the count", async () => {
  await using redis = await connect(url);
  const name = unique("attach");
  const attaching = Semaphore.attach(redis, name, AbortSignal.timeout(20_000));
  await delay(120); // the creator comes later (attach finds nothing at first)
  await Semaphore.create(redis, name, { permits: 3 });
  const attached = await attaching;
  assert.equal(attached.permits, 3);
  const error = await Semaphore.attach(
    redis,
    unique("never"),
    AbortSignal.timeout(100),
  ).catch((e) => e);
  assert.equal(error.name, "TimeoutError");
});

test("semaphore: bad arguments are TypeError/RangeError before any call", async () => {
  await using redis = await connect(url);
  const prefix = unique("bad");
  for (const permits of [0, -1, 1.5, 100_001, Number.NaN]) {
    await assert.rejects(
      Semaphore.create(redis, "s", { permits, prefix }),
      RangeError,
    );
  }
  await assert.rejects(
    Semaphore.create(redis, "s", undefined as unknown as { permits: 1 }),
    TypeError,
  );
  await assert.rejects(
    Semaphore.create(redis, "", { permits: 1, prefix }),
    RangeError,
  );
  await assert.rejects(
    Semaphore.create(redis, "s", {
      permits: 2,
      prefix,
      init: "magic" as "script",
    }),
    TypeError,
  );
  const sem = await Semaphore.create(redis, "s", { permits: 2, prefix });
  const message = await sem.acquire({ permits: 3 }).catch((e) => e);
  assert.ok(message instanceof RangeError);
  assert.equal(
    message.message,
    "Cannot acquire as 'permits' must be an integer in 1..2: current value is 3",
  );
  await assert.rejects(sem.tryAcquire({ permits: 0 }), RangeError);
  assert.deepEqual(await redis.send("KEYS", `${prefix}:*`), [
    `${prefix}:{s}:meta`,
  ]);
});

test("semaphore: 12 clients on their own connections never exceed 3 holders", async () => {
  const all = await clients(12);
  try {
    const name = unique("oracle");
    const sems = await Promise.all(
      all.map((c) => Semaphore.create(c, name, { permits: 3 })),
    );
    let holders = 0;
    let most = 0;
    const intervals: [number, number][] = [];
    await Promise.all(sems.map(async (sem) => {
      for (let i = 0; i < 40; i++) {
        const lease = await sem.acquire(AbortSignal.timeout(20_000));
        const start = performance.now();
        holders++;
        most = Math.max(most, holders);
        assert.ok(holders <= 3, `${holders} holders at once`);
        await delay(Math.random() * 3);
        holders--;
        intervals.push([start, performance.now()]);
        await lease.release();
      }
    }));
    // The same check as a sweep over every recorded hold interval.
    const events = intervals.flatMap(([s, e]) => [[s, 1], [e, -1]]).sort((
      a,
      b,
    ) => a[0] - b[0] || a[1] - b[1]);
    let open = 0;
    for (const [, delta] of events) {
      open += delta;
      assert.ok(open <= 3);
    }
    assert.equal(intervals.length, 480);
    assert.equal(most, 3, "the test never saw contention");
  } finally {
    await Promise.all(all.map((c) => c.close()));
  }
});

for (
  const wait of [
    "blocking",
    { strategy: "polling", intervalMs: 1, maxIntervalMs: 8 },
  ] as const
) {
  const label = typeof wait === "string" ? wait : wait.strategy;
  test(
    `semaphore: 3,000 randomly aborted acquires under contention (${label}): exactly N permits remain`,
    async () => {
      const all = await clients(8);
      try {
        const name = unique("aborts");
        const permits = 3;
        const sems = await Promise.all(
          all.map((c) => Semaphore.create(c, name, { permits, wait })),
        );
        const random = prng(0x9e3779b9);
        let holders = 0;
        let aborted = 0;
        let acquired = 0;
        const perWorker = 375;
        await Promise.all(sems.map(async (sem) => {
          for (let i = 0; i < perWorker; i++) {
            const controller = new AbortController();
            const mode = random();
            const pending = sem.acquire(controller.signal);
            if (mode < 0.2) controller.abort(); // before anything is sent
            else if (mode < 0.4) queueMicrotask(() => controller.abort());
            let timer: ReturnType<typeof setTimeout> | undefined;
            if (mode >= 0.4 && mode < 0.8) {
              timer = setTimeout(() => controller.abort(), random() * 4);
            }
            let lease: Lease;
            try {
              lease = await pending;
            } catch (error) {
              if ((error as Error).name !== "AbortError") throw error;
              aborted++;
              continue;
            } finally {
              clearTimeout(timer);
            }
            // An abort is never ignored: a lease only comes back if not aborted.
            assert.ok(!controller.signal.aborted, "resolved after its abort");
            acquired++;
            holders++;
            assert.ok(holders <= permits, `${holders} holders`);
            if (random() < 0.5) await delay(random() * 2);
            holders--;
            await lease.release();
          }
        }));
        assert.ok(aborted > 500, `only ${aborted} aborts`);
        assert.ok(acquired > 300, `only ${acquired} acquisitions`);
        // Exactly N permits are acquirable now: no more, no fewer.
        const probe = sems[0];
        const leases = [];
        for (let i = 0; i < permits; i++) {
          const lease = await probe.tryAcquire();
          assert.ok(lease, `permit ${i + 1} of ${permits} is missing`);
          leases.push(lease);
        }
        assert.equal(
          await probe.tryAcquire(),
          undefined,
          "a permit was duplicated",
        );
        for (const lease of leases) await lease.release();
        // Nothing is left queued, and no grant list lingers.
        const keys = await all[0].send(
          "KEYS",
          `redsync:{${name}}:*`,
        ) as string[];
        assert.deepEqual(keys.map((k) => k.split(":").at(-1)).sort(), [
          "meta",
          "owners",
        ]);
      } finally {
        await Promise.all(all.map((c) => c.close()));
      }
    },
    { timeoutMs: 180_000 },
  );
}

test("semaphore: multi-permit acquires are served in arrival order, never starved", async () => {
  const [a, b, c] = await clients(3);
  try {
    const name = unique("weights");
    const sem = (client: RedisClient) =>
      Semaphore.create(client, name, { permits: 4 });
    const small = await (await sem(a)).acquire({ permits: 1 });
    const big = (await sem(b)).acquire({ permits: 4 }); // must wait for `small`
    await queued(a, name, 1);
    // A later small request does not jump ahead of the big one.
    const later = (await sem(c)).acquire({ permits: 1 });
    await queued(a, name, 2);
    const order: string[] = [];
    big.then(() => order.push("big"));
    later.then(() => order.push("later"));
    await small.release();
    const bigLease = await big;
    assert.equal(bigLease.permits, 4);
    await delay(20);
    assert.deepEqual(order, ["big"]);
    await bigLease.release();
    await (await later).release();
    assert.deepEqual(order, ["big", "later"]);
  } finally {
    await Promise.all([a, b, c].map((x) => x.close()));
  }
});

test("semaphore: wake-ups are pub/sub messages: no wake key is written, and one for a waiter that left is dropped", async () => {
  await using redis = await connect(url);
  const name = unique("grants");
  const sem = await Semaphore.create(redis, name, { permits: 1 });
  const holder = await sem.acquire();
  const waiters = Array.from(
    { length: 5 },
    () => sem.acquire(AbortSignal.timeout(20_000)),
  );
  await queued(redis, name, 5);
  // The client's one wake channel (for every primitive it waits on): a
  // message for a waiter that has left is received and dropped by the hub.
  const channel = `redsync:wake:${internalsOf(redis).hub().id}`;
  await redis.send("PUBLISH", channel, "gone.0|1:2");
  await holder.release(); // wakes the first waiter through its client's hub
  for (const waiting of waiters) await (await waiting).release();
  // No key holds wake-ups: neither the client's nor the primitive's.
  assert.deepEqual(await redis.send("KEYS", "redsync:wake:*"), []);
  assert.deepEqual(
    await redis.send("KEYS", `redsync:{${name}}:wake:*`),
    [],
  );
});

test("semaphore: a crashed waiter's place in line expires; the others go on", async () => {
  await using redis = await connect(url);
  await using ghost = await connect(url);
  const name = unique("ghost");
  const options = { permits: 1, waiterTtlMs: 300 };
  const sem = await Semaphore.create(redis, name, options);
  const holder = await sem.acquire();
  // The ghost queues first, then vanishes without cancelling (its connection dies).
  const ghostSem = await Semaphore.create(ghost, name, options);
  // Queued once they report waiting (a count of the queue could miss the
  // ghost, reaped if a slow machine let its 300 ms heartbeat lapse).
  const waiting = (target: Semaphore) =>
    new Promise((r) => target.addEventListener("waiting", r, { once: true }));
  const ghostQueued = waiting(ghostSem);
  ghostSem.acquire().catch(() => {});
  await ghostQueued;
  const liveQueued = waiting(sem);
  const live = sem.acquire(AbortSignal.timeout(20_000));
  await liveQueued;
  await ghost.close({ release: false }); // no cancel reaches Redis: like a SIGKILL
  await delay(400); // the ghost's heartbeat has lapsed
  await holder.release();
  const lease = await live;
  assert.ok(lease.token > holder.token);
  await lease.release();
});

test("semaphore: an acquire aborted just before its client closes leaves nothing queued", async () => {
  await using redis = await connect(url);
  const name = unique("abortclose");
  const pool = await Semaphore.create(redis, name, { permits: 1 });
  for (const warm of [false, true]) {
    const other = await connect(url);
    const waiterSem = await Semaphore.attach(other, name);
    if (warm) await (await waiterSem.acquire()).release();
    const held = await pool.acquire();
    const controller = new AbortController();
    const pending = waiterSem.acquire(controller.signal);
    pending.catch(() => {});
    await queued(redis, name, 1);
    controller.abort();
    await other.close(); // same tick: the cleanup must already be on its way
    await held.release();
    const again = await pool.tryAcquire();
    assert.ok(again, `warm=${warm}: the permit went to the waiter that left`);
    await again.release();
  }
});

test("semaphore: a name a mutex holds or waits for counts as one permit: a semaphore of another count is refused, both ways", async () => {
  await using redis = await connect(url);
  for (const init of ["script", "transaction"] as const) {
    const name = unique(`shared-name-${init}`);
    const mutex = new Mutex(redis, name);
    const held = await mutex.acquire();
    await assert.rejects(
      Semaphore.create(redis, name, { permits: 3, init }),
      SemaphoreMismatchError,
      "3 more holders would be admitted beside the mutex's",
    );
    // A count of one agrees with the mutex.
    const one = await Semaphore.create(redis, name, { permits: 1, init });
    assert.equal(await one.tryAcquire(), undefined, "held by the mutex");
    await held.release();
    await redis.send("DEL", `redsync:{${name}}:meta`);
    // Idle, the name can become a semaphore; the mutex then refuses it.
    const three = await Semaphore.create(redis, name, { permits: 3, init });
    await assert.rejects(mutex.acquire(), SemaphoreMismatchError);
    await using permit = await three.acquire();
    assert.ok(permit.held);
  }
});

test("semaphore: the running total of permits in use always equals the sum of the holders' weights (grants, releases, aborts, reaps)", async () => {
  await using redis = await connect(url);
  await using other = await connect(url);
  const name = unique("total");
  const base = `redsync:{${name}}`;
  const sem = await Semaphore.create(redis, name, {
    permits: 10,
    leaseMs: 150,
    renew: false,
  });
  const otherSem = await Semaphore.attach(other, name, { leaseMs: 150 });
  const random = prng(1234);
  /** The invariant, read atomically (one script) from the keys. */
  const check = async (step: string) => {
    const [total, sum] = await redis.send(
      "EVAL",
      `local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
       local sum = 0
       for i = 1, #ids do
         local owner = redis.call('HGET', KEYS[2], ids[i])
         sum = sum + tonumber(string.match(owner, ':(%d+)$'))
       end
       local total = redis.call('HGET', KEYS[2], '#used')
       if #ids == 0 then total = '0' end
       return {tonumber(total or '-1'), sum}`,
      2,
      `${base}:holders`,
      `${base}:owners`,
    ) as [number, number];
    assert.equal(total, sum, step);
  };
  const held: Lease[] = [];
  for (let step = 0; step < 150; step++) {
    const action = random();
    const permits = 1 + Math.floor(random() * 3);
    if (action < 0.4) {
      const lease = await (random() < 0.5 ? sem : otherSem).tryAcquire({
        permits,
      });
      if (lease) held.push(lease);
    } else if (action < 0.6 && held.length > 0) {
      const lease = held.splice(Math.floor(random() * held.length), 1)[0];
      await lease.release().catch(() => {}); // may have ended (reaped)
    } else if (action < 0.8) {
      const controller = new AbortController();
      const waiting = sem.acquire({ permits, signal: controller.signal });
      waiting.then((lease) => held.push(lease), () => {});
      await delay(Math.floor(random() * 5));
      controller.abort();
      await waiting.catch(() => {});
      await until(
        "the undo to land",
        async () => (await inspect(redis, name)).queued === 0,
      );
    } else {
      await delay(60); // leases run out; the next script reaps them
    }
    await check(`step ${step}`);
  }
  await Promise.all(held.map((lease) => lease.release().catch(() => {})));
  await check("after releasing all");
});
