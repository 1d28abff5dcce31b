/**
 * Lease metadata (`acquire({ meta })`: stored with the lease, shown by
 * `inspect()`, `info()` and the CLI, removed with the lease) and bounded
 * holds (`maxHoldMs`: renewal stops, the lease is lost on schedule and its
 * permit handed on; `extend()` never reaches past the bound).
 *
 * @module
 */
import assert from "node:assert/strict";
import { main } from "../cli.ts";
import {
  connect,
  type Lease,
  LockLostError,
  Mutex,
  type RedisClient,
  Semaphore,
} from "../mod.ts";
import { inspect } from "../src/admin.ts";
import { sharedRedisUrl } from "../harness/server.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { delay, until } from "./_until.ts";

const url = sharedRedisUrl();

/** The fields of `p:{name}:<suffix>` (a hash), as an object. */
async function hash(
  redis: RedisClient,
  name: string,
  suffix: "owners" | "wants",
  prefix = "redsync",
): Promise<Record<string, string>> {
  const flat = await redis.send("HGETALL", `${prefix}:{${name}}:${suffix}`);
  if (flat instanceof Map) return Object.fromEntries(flat);
  const list = flat as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) out[list[i]] = list[i + 1];
  return out;
}

/** Fields of `owners` and `wants` that carry a meta. */
async function metaFields(
  redis: RedisClient,
  name: string,
  prefix = "redsync",
): Promise<string[]> {
  const fields = [
    ...Object.keys(await hash(redis, name, "owners", prefix)),
    ...Object.keys(await hash(redis, name, "wants", prefix)),
  ];
  return fields.filter((f) => f.startsWith("meta:"));
}

/** Resolves once `signal` aborts, with its reason. */
function aborted(signal: AbortSignal): Promise<unknown> {
  return signal.aborted
    ? Promise.resolve(signal.reason)
    : new Promise((resolve) =>
      signal.addEventListener("abort", () => resolve(signal.reason), {
        once: true,
      })
    );
}

/** Runs the CLI in-process: exit code and output. */
async function cli(args: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  let err = "";
  const code = await main(args, {
    stdout: { write: (text: string) => out += text },
    stderr: { write: (text: string) => err += text },
    env: { REDIS_URL: url },
  });
  assert.equal(code, 0, err);
  return { code, out };
}

test("meta: a direct grant's meta is shown by inspect, info and the CLI, and removed on release", async () => {
  await using redis = await connect(url);
  const prefix = `meta-${crypto.randomUUID()}`;
  const mutex = new Mutex(redis, "jobs", { prefix });
  const meta = "host-a pid 42 job 7";
  const lease = await mutex.acquire({
    signal: AbortSignal.timeout(5_000),
    meta,
  });

  const info = await inspect(redis, "jobs", { prefix });
  assert.equal(info.holders.length, 1);
  assert.equal(info.holders[0].id, lease.id);
  assert.equal(info.holders[0].meta, meta);
  assert.deepEqual((await mutex.info()).holders.map((h) => h.meta), [meta]);
  assert.deepEqual(await metaFields(redis, "jobs", prefix), [
    `meta:${lease.id}`,
  ]);

  const human = await cli(["info", "jobs", "--prefix", prefix]);
  assert.match(human.out, /LEASE ID +TOKEN +PERMITS +REMAINING +META$/m);
  assert.match(
    human.out,
    new RegExp(`^  ${lease.id} +${lease.token} +1 +\\d+ ms +${meta}$`, "m"),
  );
  const json = JSON.parse(
    (await cli(["info", "jobs", "--json", "--prefix", prefix])).out,
  );
  assert.equal(json.holders[0].meta, meta);

  await lease.release();
  assert.deepEqual((await inspect(redis, "jobs", { prefix })).holders, []);
  assert.deepEqual(await metaFields(redis, "jobs", prefix), []);

  // Without meta: no field, no META column, no `meta` in inspect().
  const plain = await mutex.acquire(AbortSignal.timeout(5_000));
  const [holder] = (await inspect(redis, "jobs", { prefix })).holders;
  assert.equal(holder.id, plain.id);
  assert.ok(!("meta" in holder));
  assert.deepEqual(await metaFields(redis, "jobs", prefix), []);
  const bare = await cli(["info", "jobs", "--prefix", prefix]);
  assert.doesNotMatch(bare.out, /META/);
  await plain.release();

  // tryAcquire and runExclusive take it too; control characters are
  // escaped in the CLI's view.
  const tried = await mutex.tryAcquire({ meta: "cron\nline 2" });
  assert.ok(tried);
  assert.equal(
    (await inspect(redis, "jobs", { prefix })).holders[0].meta,
    "cron\nline 2",
  );
  assert.match(
    (await cli(["info", "jobs", "--prefix", prefix])).out,
    /ms +cron\\u000aline 2$/m,
  );
  await tried.release();
  const ran = await mutex.runExclusive(
    async () => (await mutex.info()).holders[0].meta,
    { meta: "run" },
  );
  assert.deepEqual(ran, { ran: true, value: "run" });
  assert.deepEqual(await metaFields(redis, "jobs", prefix), []);
});

test("meta: a waiter's meta travels with its queue entry and is stored on hand-off", async () => {
  await using redis = await connect(url);
  await using other = await connect(url);
  const name = unique("handoff");
  const first = new Mutex(redis, name);
  const second = new Mutex(other, name);
  const holder = await first.acquire({ meta: "first" });
  const waiting = second.acquire({
    signal: AbortSignal.timeout(10_000),
    meta: "second job 9",
  });
  waiting.catch(() => {});
  await until("the waiter queued", async () => {
    return Object.values(await hash(redis, name, "wants")).includes(
      "second job 9",
    );
  });
  assert.deepEqual(
    (await first.info()).holders.map((h) => h.meta),
    ["first"],
    "a waiter is no holder",
  );

  await holder.release();
  const lease = await waiting;
  const info = await inspect(redis, name);
  assert.deepEqual(
    info.holders.map((h) => [h.id, h.meta]),
    [[lease.id, "second job 9"]],
  );
  // Only the holder's entry is left: the queue's went with the grant.
  assert.deepEqual(await metaFields(redis, name), [`meta:${lease.id}`]);
  const shown = await cli(["info", name]);
  assert.match(shown.out, /ms +second job 9$/m);

  await lease.release();
  assert.deepEqual(await metaFields(redis, name), []);
});

test("meta: a semaphore's holders each show theirs; hand-off of several permits; an aborted waiter leaves nothing", async () => {
  await using redis = await connect(url);
  const name = unique("sem-meta");
  const pool = await Semaphore.create(redis, name, { permits: 3 });
  const a = await pool.acquire({ permits: 2, meta: "a" });
  const b = await pool.acquire({ meta: "b" });
  const byId = async () =>
    Object.fromEntries(
      (await pool.info()).holders.map((h) => [h.id, h.meta ?? null]),
    );
  assert.deepEqual(await byId(), { [a.id]: "a", [b.id]: "b" });

  // An aborted waiter's meta leaves with its queue entry.
  const stop = new AbortController();
  const gone = pool.acquire({ permits: 2, signal: stop.signal, meta: "gone" });
  gone.catch(() => {});
  await until("the waiter queued", async () => {
    return Object.values(await hash(redis, name, "wants")).includes("gone");
  });
  stop.abort();
  await assert.rejects(gone);
  await until("the queue entry left", async () => {
    return (await metaFields(redis, name)).length === 2;
  });

  const waiting = pool.acquire({
    permits: 2,
    signal: AbortSignal.timeout(10_000),
    meta: "c wants two",
  });
  await until("the waiter queued", async () => {
    return Object.values(await hash(redis, name, "wants")).includes(
      "c wants two",
    );
  });
  await a.release();
  const c = await waiting;
  assert.deepEqual(await byId(), { [b.id]: "b", [c.id]: "c wants two" });
  const info = await inspect(redis, name);
  assert.deepEqual(
    info.holders.map((h) => [h.meta, h.permits]).sort(),
    [["b", 1], ["c wants two", 2]],
  );
  await b.release();
  // owners still exists (c holds): b's meta field went with its entry.
  assert.deepEqual(await metaFields(redis, name), [`meta:${c.id}`]);
  await c.release();
  assert.deepEqual(await metaFields(redis, name), []);
});

test("meta: removed when an ended lease is reaped (one of several holders, and the sole one)", async () => {
  await using redis = await connect(url);
  const name = unique("expiry");
  const pool = await Semaphore.create(redis, name, { permits: 2 });
  const kept = await pool.acquire({ meta: "kept" });
  const ended = await pool.acquire({ meta: "crashed" });
  assert.equal((await metaFields(redis, name)).length, 2);
  // Its holder stopped renewing long ago (a crash): its lease has ended in
  // Redis, and the next script reaps it; its meta goes with it, while the
  // owners hash lives on for `kept`.
  await redis.send("ZADD", `redsync:{${name}}:holders`, "XX", 1, ended.id);
  const again = await pool.tryAcquire({ meta: "again" });
  assert.ok(again);
  assert.deepEqual(
    (await metaFields(redis, name)).sort(),
    [`meta:${again.id}`, `meta:${kept.id}`].sort(),
  );
  assert.deepEqual(
    (await pool.info()).holders.map((h) => h.meta).sort(),
    ["again", "kept"],
  );
  await ended[Symbol.asyncDispose](); // lost: does not throw
  await again.release();
  await kept.release();
  assert.deepEqual(await metaFields(redis, name), []);

  // A mutex's sole holder: reaped, and the owners hash with it.
  const mutexName = unique("expiry-mutex");
  const mutex = new Mutex(redis, mutexName);
  const lone = await mutex.acquire({ meta: "lone" });
  await redis.send("ZADD", `redsync:{${mutexName}}:holders`, "XX", 1, lone.id);
  const next = await mutex.tryAcquire();
  assert.ok(next);
  assert.deepEqual(await metaFields(redis, mutexName), []);
  assert.equal((await mutex.info()).holders[0].meta, undefined);
  await lone[Symbol.asyncDispose]();
  await next.release();

  // A lease that runs out (no renewal) is given back by its holder, its
  // meta with it.
  const short = new Mutex(redis, unique("expiry-short"), {
    leaseMs: 150,
    renew: false,
  });
  const brief = await short.acquire({ meta: "brief" });
  await aborted(brief.signal);
  await until("the ended lease is gone", async () => {
    return (await short.info()).holders.length === 0 &&
      (await metaFields(redis, short.name)).length === 0;
  });
});

test("meta: a bad meta is a TypeError/RangeError before any call to Redis", async () => {
  const redis = await connect(url);
  const name = unique("bad-meta");
  const mutex = new Mutex(redis, name);
  const pool = await Semaphore.create(redis, name + ":sem", { permits: 2 });
  // Closed: any command would fail with a ConnectionError instead.
  await redis.close();
  const long = "x".repeat(5000);
  await assert.rejects(mutex.acquire({ meta: long }), {
    name: "RangeError",
    message:
      "Cannot acquire as 'meta' must be a string of at most 1024 characters: current length is 5000",
  });
  await assert.rejects(
    mutex.acquire({ meta: 42 as unknown as string }),
    {
      name: "TypeError",
      message:
        "Cannot acquire as 'meta' must be a string: current type is number",
    },
  );
  await assert.rejects(
    mutex.tryAcquire({ meta: null as unknown as string }),
    {
      name: "TypeError",
      message:
        "Cannot tryAcquire as 'meta' must be a string: current type is null",
    },
  );
  await assert.rejects(pool.acquire({ permits: 1, meta: long }), RangeError);
  await assert.rejects(pool.tryAcquire({ meta: long }), RangeError);
  await assert.rejects(
    mutex.runExclusive(() => {}, { meta: {} as unknown as string }),
    TypeError,
  );
  // 1024 characters are fine (the client is closed: a ConnectionError).
  await assert.rejects(
    mutex.acquire({ meta: "y".repeat(1024) }),
    (error: Error) => !(error instanceof RangeError),
  );
});

test("maxHoldMs: validated when the lock is made", async () => {
  await using redis = await connect(url);
  for (const maxHoldMs of [5, 1.5, -1, Number.NaN, "300"]) {
    assert.throws(
      () =>
        new Mutex(redis, "x", { maxHoldMs: maxHoldMs as unknown as number }),
      {
        name: "RangeError",
        message: new RegExp(
          "^Cannot create a mutex as 'maxHoldMs' must be an integer in 10\\.\\.",
        ),
      },
    );
  }
});

test("maxHoldMs: renewal stops at the bound, the lease is lost on schedule, and a waiter gets the lock right after", async () => {
  await using redis = await connect(url);
  await using other = await connect(url);
  const name = unique("maxhold");
  const lost: LockLostError[] = [];
  // leaseMs 1500: renewed several times before the bound (else it would
  // be lost at ~1.5 s as "ran out"); renewals every ~500 ms, which late
  // timers on a loaded machine do not make miss the lease's end.
  const mutex = new Mutex(redis, name, {
    leaseMs: 1_500,
    maxHoldMs: 3_000,
    onLost: (error) => lost.push(error),
  });
  const rival = new Mutex(other, name, { leaseMs: 10_000 });
  const lease = await mutex.acquire({ meta: "bounded" });
  const started = performance.now();
  const waiting = rival.acquire(AbortSignal.timeout(20_000));
  waiting.catch(() => {});
  const reason = await aborted(lease.signal);
  const lostAt = performance.now() - started;
  assert.ok(reason instanceof LockLostError);
  assert.match(reason.message, /maximum hold time of 3000 ms/);
  // Not before the bound; after it, lost at all (renewal would keep it).
  assert.ok(
    lostAt >= 2_950 && lostAt < 3_000 + 10_000,
    `lost after ${lostAt} ms`,
  );
  assert.equal(lost.length, 1);
  assert.equal(lost[0], reason);
  assert.ok(!lease.held);
  await assert.rejects(lease.extend(), LockLostError);

  // The permit was handed on: the waiter gets the lock (that it comes at
  // the bound, not at a long lease's end, is the next test's check).
  const next = await waiting;
  const gotAt = performance.now() - started;
  assert.ok(next.token > lease.token);
  assert.ok(gotAt < lostAt + 10_000, `granted ${gotAt - lostAt} ms after loss`);
  assert.deepEqual(
    (await inspect(redis, name)).holders.map((h) => h.id),
    [next.id],
  );
  await next.release();
  await assert.rejects(lease.release(), LockLostError);
});

test("maxHoldMs: with a long lease, the permit is handed on at the bound, not at the lease's end", async () => {
  await using redis = await connect(url);
  await using other = await connect(url);
  const name = unique("maxhold-long");
  const pool = await Semaphore.create(redis, name, {
    permits: 1,
    leaseMs: 20_000,
    maxHoldMs: 300,
  });
  const rival = await Semaphore.attach(other, name);
  const lease = await pool.acquire();
  const started = performance.now();
  const next = await rival.acquire(AbortSignal.timeout(15_000));
  const elapsed = performance.now() - started;
  assert.ok(lease.signal.aborted);
  assert.match(
    (lease.signal.reason as Error).message,
    /maximum hold time of 300 ms/,
  );
  // At the bound, long before the 20 s lease would have run out.
  assert.ok(elapsed >= 250 && elapsed < 15_000, `granted after ${elapsed} ms`);
  await next.release();
});

test("maxHoldMs: extend() extends to at most the hold time left", async () => {
  await using redis = await connect(url);
  const name = unique("maxhold-extend");
  const mutex = new Mutex(redis, name, {
    leaseMs: 5_000,
    renew: false,
    maxHoldMs: 400,
  });
  const lease: Lease = await mutex.acquire();
  const started = performance.now();
  await delay(100);
  await lease.extend(60_000);
  // Cut to the bound, here and in Redis.
  assert.ok(lease.remainingMs <= 400, `${lease.remainingMs} ms left`);
  const [holder] = (await inspect(redis, name)).holders;
  assert.ok(holder.remainingMs <= 400, `${holder.remainingMs} ms in Redis`);
  const reason = await aborted(lease.signal);
  const lostAt = performance.now() - started;
  assert.match((reason as Error).message, /maximum hold time of 400 ms/);
  // Not before the bound, and long before the 5 s lease (or the 60 s asked).
  assert.ok(lostAt >= 350 && lostAt < 4_000, `lost after ${lostAt} ms`);
  await assert.rejects(lease.extend(1_000), LockLostError);
  const next = await mutex.tryAcquire();
  assert.ok(next, "released at the bound");
  await next.release();

  // Without a bound, extend() still gives the whole lease.
  const free = new Mutex(redis, name, { leaseMs: 5_000, renew: false });
  const long = await free.acquire();
  await long.extend(60_000);
  assert.ok(long.remainingMs > 50_000);
  await long.release();
});
