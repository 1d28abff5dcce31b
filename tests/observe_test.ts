import assert from "node:assert/strict";
import {
  connect,
  contended,
  inspect,
  type LockEvent,
  type LockMetrics,
  Mutex,
  Semaphore,
} from "../mod.ts";
import { sharedRedisUrl } from "../harness/server.ts";
import { test } from "./_test.ts";
import { delay, until } from "./_until.ts";

const url = sharedRedisUrl();
const unique = (label: string) => `${label}:${crypto.randomUUID()}`;

test("observe: a lease's life is reported as typed events, to the logger and to metrics", async () => {
  await using redis = await connect(url);
  const name = unique("events");
  const logged: string[] = [];
  const logger = {
    debug: (line: string) => logged.push(`debug ${line}`),
    info: (line: string) => logged.push(`info ${line}`),
    error: (line: string) => logged.push(`error ${line}`),
  };
  const metrics: string[] = [];
  const hook: LockMetrics = {
    wait: (n, ms, outcome) =>
      metrics.push(`wait ${outcome} ${n === name && ms >= 0}`),
    hold: (_n, ms) => metrics.push(`hold ${ms >= 0}`),
    lost: () => metrics.push("lost"),
  };
  // Renewed every ~500 ms: a loaded machine's late timers do not lose it.
  const mutex = new Mutex(redis, name, {
    leaseMs: 1_500,
    logger,
    metrics: hook,
  });
  const events: LockEvent[] = [];
  for (
    const type of [
      "waiting",
      "acquired",
      "timeout",
      "released",
      "renewed",
      "lost",
    ] as const
  ) mutex.addEventListener(type, (event) => events.push(event));
  const lease = await mutex.acquire();
  await mutex.acquire(AbortSignal.timeout(40)).catch(() => {}); // waiting, timeout
  await until("a renewal", () => events.some((e) => e.type === "renewed"));
  await lease.release();
  const doomed = await mutex.acquire();
  await redis.send("DEL", `redsync:{${name}}:holders`);
  await new Promise((r) => doomed.signal.addEventListener("abort", r));
  const types = events.map((e) => e.type);
  for (
    const type of [
      "acquired",
      "waiting",
      "timeout",
      "renewed",
      "released",
      "lost",
    ]
  ) assert.ok(types.includes(type), `no ${type} event in ${types}`);
  const acquired = events.find((e) => e.type === "acquired")!;
  assert.equal(acquired.lockName, name);
  assert.equal(acquired.token, lease.token);
  assert.ok(acquired.waitMs! >= 0);
  assert.ok(events.find((e) => e.type === "released")!.heldMs! >= 0);
  assert.equal(
    events.find((e) => e.type === "lost")!.reason,
    doomed.signal.reason,
  );
  assert.ok(logged.some((l) => l.startsWith("debug redsync: acquired")));
  assert.ok(logged.some((l) => l.startsWith("info redsync: timeout")));
  assert.ok(logged.some((l) => l.startsWith("error redsync: lost")));
  assert.ok(metrics.includes("wait acquired true"));
  assert.ok(metrics.includes("wait aborted true"));
  assert.ok(metrics.includes("hold true"));
  assert.ok(metrics.includes("lost"));
});

test("observe: nothing is logged by default", async () => {
  await using redis = await connect(url);
  const mutex = new Mutex(redis, unique("quiet"));
  const original = console.debug;
  let printed = 0;
  console.debug = () => printed++;
  try {
    const lease = await mutex.acquire();
    await lease.release();
  } finally {
    console.debug = original;
  }
  assert.equal(printed, 0);
});

test("stats: waiters and contended primitives are visible in Redis, and expire when waiters die", async () => {
  await using redis = await connect(url);
  await using ghostClient = await connect(url);
  const prefix = unique("stats");
  const name = "busy";
  const options = { permits: 1, prefix, waiterTtlMs: 300 };
  const sem = await Semaphore.create(redis, name, options);
  const holder = await sem.acquire();
  const ghost = await Semaphore.create(ghostClient, name, options);
  const waits = [ghost.acquire(), ghost.acquire()];
  for (const w of waits) w.catch(() => {});
  // Both queue; the contended mark is written off the path to the lock.
  let info = await inspect(redis, name, { prefix });
  let names: string[] = [];
  await until("both waiters to queue, marked contended", async () => {
    info = await inspect(redis, name, { prefix });
    names = await contended(redis, { prefix });
    return info.waiters === 2 && names.length > 0;
  });
  assert.deepEqual(names, [name]);
  assert.equal(info.waiters, 2);
  assert.equal(info.holders.length, 1);
  assert.equal(info.holders[0].token, holder.token);
  // The waiters' process dies: no cancel, no heartbeat.
  await ghostClient.close();
  await delay(450); // longer than waiterTtlMs (300), by the server's clock too
  assert.equal((await inspect(redis, name, { prefix })).waiters, 0);
  assert.deepEqual(await contended(redis, { prefix }), []);
  await holder.release();
});
