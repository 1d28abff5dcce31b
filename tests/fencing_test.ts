import assert from "node:assert/strict";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { connect, Mutex, type RedisClient, Semaphore } from "../mod.ts";
import { FencedResource } from "../src/fencing.ts";
import { TOKEN_WINDOW_MS } from "../src/locks/prelude.ts";
import { keySlot } from "../src/topologies/cluster/slot.ts";
import { sharedRedisUrl } from "../harness/server.ts";
import { startScript } from "../harness/spawn.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { until } from "./_until.ts";

const url = sharedRedisUrl();
const workerFile = fileURLToPath(
  new URL("./_fence_worker.ts", import.meta.url),
);
const DAY_MS = 86_400_000;

/** Settles like `promise`, or rejects after `ms` (the timer is cleared). */
async function within<T>(promise: Promise<T>, ms: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

const pttl = async (redis: RedisClient, key: string) =>
  Number(await redis.send("PTTL", key));

test("fencing: the first write is accepted, an equal token too, a smaller one refused", async () => {
  await using redis = await connect(url);
  const resource = new FencedResource(redis, unique("res"));
  assert.equal(await resource.read(), undefined);
  assert.equal(await resource.lastToken(), undefined);
  assert.equal(await resource.write(100, "a"), true, "first write");
  assert.equal(await resource.write(100, "b"), true, "same token again");
  assert.equal(await resource.write(99, "c"), false, "smaller token");
  assert.equal(await resource.read(), "b");
  assert.equal(await resource.lastToken(), 100);
  assert.equal(await resource.write(101, ""), true);
  assert.equal(await resource.read(), "");
  // Tokens of different lengths compare by value, not as text.
  assert.equal(await resource.write(1_000, "d"), true);
  assert.equal(await resource.write(999, "e"), false);
  assert.equal(await resource.write(0, "e"), false);
  // Real tokens (server µs, ~1.7e15) up to the largest safe integer, exact.
  const now = 1_700_000_000_000_000;
  assert.equal(await resource.write(now, "f"), true);
  assert.equal(await resource.write(Number.MAX_SAFE_INTEGER - 1, "g"), true);
  assert.equal(await resource.write(Number.MAX_SAFE_INTEGER, "h"), true);
  assert.equal(
    await resource.write(Number.MAX_SAFE_INTEGER - 1, "i"),
    false,
  );
  assert.equal(await resource.read(), "h");
  assert.equal(await resource.lastToken(), Number.MAX_SAFE_INTEGER);
  // Two keys, one hash tag: one slot (Redis Cluster), apart from the locks.
  const named = new FencedResource(redis, "job:7", { prefix: "app" });
  assert.equal(named.valueKey, "app:{job:7}:value");
  assert.equal(named.tokenKey, "app:{job:7}:token");
  assert.equal(keySlot(resource.valueKey), keySlot(resource.tokenKey));
  assert.equal(
    new FencedResource(redis, "m").tokenKey,
    "redsync:fenced:{m}:token",
  );
  await redis.send("DEL", resource.valueKey, resource.tokenKey);
});

test("fencing: a lease's token writes again and again; the next holder's token turns it away", async () => {
  await using redis = await connect(url);
  const name = unique("lock");
  const resource = new FencedResource(redis, name);
  const mutex = new Mutex(redis, name);
  const first = await mutex.acquire();
  assert.equal(await resource.write(first.token, "1a"), true);
  assert.equal(await resource.write(first.token, "1b"), true);
  await first.release();
  const second = await mutex.acquire();
  assert.equal(await resource.write(second.token, "2"), true);
  assert.equal(await resource.write(first.token, "1c"), false);
  assert.equal(await resource.read(), "2");
  assert.equal(await resource.lastToken(), second.token);
  await second.release();
  await redis.send("DEL", resource.valueKey, resource.tokenKey);
});

test("fencing: bad arguments are TypeError/RangeError before any Redis call", async () => {
  await using redis = await connect(url);
  const closed = await connect(url);
  await closed.close();
  const bad = unknownArgs;
  assert.throws(() => new FencedResource(redis, bad(42)), TypeError);
  assert.throws(() => new FencedResource(redis, ""), RangeError);
  assert.throws(() => new FencedResource(redis, "x".repeat(2_000)), RangeError);
  assert.throws(() => new FencedResource(redis, "r", bad(null)), TypeError);
  assert.throws(
    () => new FencedResource(redis, "r", { prefix: bad(5) }),
    TypeError,
  );
  const name = unique("bad");
  for (const client of [closed, redis]) {
    const resource = new FencedResource(client, name);
    await assert.rejects(resource.write(bad("1"), "v"), TypeError);
    await assert.rejects(resource.write(bad(1n), "v"), TypeError);
    await assert.rejects(resource.write(bad(undefined), "v"), TypeError);
    await assert.rejects(resource.write(1.5, "v"), RangeError);
    await assert.rejects(resource.write(-1, "v"), RangeError);
    await assert.rejects(resource.write(NaN, "v"), RangeError);
    await assert.rejects(resource.write(2 ** 53, "v"), RangeError);
    await assert.rejects(resource.write(1, bad(5)), TypeError);
    await assert.rejects(resource.write(1, bad(undefined)), TypeError);
  }
  // The closed client fails any call: the errors above came first.
  const late = await new FencedResource(closed, name).write(1, "v").then(
    () => undefined,
    (error) => error,
  );
  assert.ok(late instanceof Error);
  assert.ok(!(late instanceof TypeError) && !(late instanceof RangeError));
  const resource = new FencedResource(redis, name);
  assert.equal(
    await redis.send("EXISTS", resource.valueKey, resource.tokenKey),
    0,
    "nothing was written",
  );
});

/** Lets a test pass a wrongly typed argument. */
function unknownArgs<T>(value: unknown): T {
  return value as T;
}

test(
  "fencing: a holder paused (SIGSTOP) past its lease writes late with its old token and is refused",
  async () => {
    await using redis = await connect(url);
    const name = unique("paused");
    const goKey = `fence-test-go:{${name}}`;
    const leaseMs = 300;
    const resource = new FencedResource(redis, name);
    const worker = startScript(workerFile, [
      url,
      name,
      name,
      String(leaseMs),
      goKey,
    ]);
    const pid = worker.child.pid!;
    let stopped = false;
    try {
      const { acquired: oldToken } = await within(
        worker.first,
        20_000,
        "the worker's acquire",
      );
      process.kill(pid, "SIGSTOP");
      stopped = true;
      // Paused: it cannot renew, so its lease runs out and we are granted.
      const mutex = new Mutex(redis, name, { leaseMs: 5_000 });
      const started = performance.now();
      const lease = await mutex.acquire(AbortSignal.timeout(10_000));
      const waitedMs = performance.now() - started;
      assert.ok(lease.token > oldToken, "the new holder's token is larger");
      assert.equal(await resource.write(lease.token, "second"), true);
      assert.equal(await resource.write(lease.token, "second"), true);
      // Resumed: the worker writes at once with its old token.
      process.kill(pid, "SIGCONT");
      stopped = false;
      await redis.send("SET", goKey, "1", "PX", 60_000);
      const lines = await within(worker.lines, 20_000, "the worker's exit");
      const { written, lost } = lines.at(-1)!;
      assert.equal(written, 0, "the late write with the old token is refused");
      assert.equal(lost, 1, "the paused holder learns its lease was lost");
      assert.equal(await resource.read(), "second");
      assert.equal(await resource.lastToken(), lease.token);
      assert.ok(lease.held, "the paused holder's return took nothing from us");
      console.log(
        `paused holder: token ${oldToken} refused after ${
          waitedMs.toFixed(0)
        } ms; value kept with token ${lease.token}`,
      );
      await lease.release();
    } finally {
      if (stopped) process.kill(pid, "SIGCONT");
      await worker.stop();
      await redis.send("DEL", goKey, resource.valueKey, resource.tokenKey);
    }
  },
  { timeoutMs: 90_000 },
);

test("fencing: the last token lives in owners for the token window after each grant, and tokens still increase without it", async () => {
  await using redis = await connect(url);
  const name = unique("fence-ttl");
  const owners = `redsync:{${name}}:owners`;
  const mutex = new Mutex(redis, name, { leaseMs: 5_000 });
  const first = await mutex.acquire();
  const ttl = await pttl(redis, owners);
  assert.ok(
    ttl > TOKEN_WINDOW_MS && ttl <= 2 * TOKEN_WINDOW_MS,
    `PTTL ${ttl}`,
  );
  // The holder's entry is 'token:weight', the format every version reads
  // (a mixed deployment: an older version's ACQUIRE and INFO parse it), and
  // the last token is written as digits, exactly.
  assert.equal(
    await redis.send("HGET", owners, first.id),
    `${first.token}:1`,
  );
  assert.equal(await redis.send("HGET", owners, "#token"), String(first.token));
  await first.release();
  // Nobody holds: owners keeps only the last token, no other field.
  assert.deepEqual(await redis.send("HKEYS", owners), ["#token"]);
  assert.equal(await redis.send("HGET", owners, "#token"), String(first.token));
  assert.ok(await pttl(redis, owners) > TOKEN_WINDOW_MS - 10_000);
  // A lost owners hash (expired after the window, evicted, a restart
  // without persistence): tokens go on from the server clock in µs, above
  // every earlier one.
  await redis.send("DEL", owners);
  const second = await mutex.acquire();
  assert.ok(second.token > first.token);
  assert.ok(await pttl(redis, owners) > TOKEN_WINDOW_MS);
  await second.release();
  await redis.send("DEL", owners);
  const third = await mutex.acquire();
  assert.ok(third.token > second.token);
  await third.release();

  // A token ahead of the clock is never undercut while owners is there.
  const [seconds] = await redis.send("TIME") as string[];
  const ahead = (Number(seconds) + 3_600) * 1_000_000;
  await redis.send("HSET", owners, "#token", String(ahead));
  const fourth = await mutex.acquire();
  assert.equal(fourth.token, ahead + 1);
  await fourth.release();

  // Never shortened (a key without a TTL gets one).
  await redis.send("PEXPIRE", owners, 30 * DAY_MS);
  const fifth = await mutex.acquire();
  assert.ok(fifth.token > fourth.token);
  assert.ok(await pttl(redis, owners) > 29 * DAY_MS);
  await redis.send("PERSIST", owners);
  // A grant made while releasing (the hand-off to a waiter) sets it too.
  const waiting = mutex.acquire(AbortSignal.timeout(10_000));
  await until(
    "the waiter to queue",
    async () =>
      Number(await redis.send("ZCARD", `redsync:{${name}}:queue`)) === 1,
  );
  assert.equal(await pttl(redis, owners), -1);
  await fifth.release();
  const sixth = await waiting;
  assert.ok(sixth.token > fifth.token);
  assert.ok(await pttl(redis, owners) > TOKEN_WINDOW_MS);
  await sixth.release();
  await redis.send("DEL", owners);
});

test("fencing: owners lives at least as long as the longest lease, and a fence key of an older version is left alone", async () => {
  await using redis = await connect(url);
  const name = unique("fence-long");
  const owners = `redsync:{${name}}:owners`;
  const legacy = `redsync:{${name}}:fence`;
  // Before 0.2 the last token had a key of its own; it is read by nobody
  // now (tokens stay above it: they were never far above the clock).
  const [seconds] = await redis.send("TIME") as string[];
  const old = Number(seconds) * 1_000_000;
  await redis.send("SET", legacy, String(old), "PX", 60_000);
  const sem = await Semaphore.create(redis, name, {
    permits: 2,
    leaseMs: 10 * 60_000,
  });
  const lease = await sem.acquire();
  assert.ok(lease.token > old);
  assert.ok(await pttl(redis, owners) > 10 * 60_000 - 10_000);
  assert.equal(await redis.send("GET", legacy), String(old));
  await lease.release();
  await redis.send("DEL", owners, legacy, `redsync:{${name}}:meta`);
});
