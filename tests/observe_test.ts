import assert from "node:assert/strict";
import {
  connect,
  type LockEvent,
  type LockMetrics,
  LockTimeoutError,
  Mutex,
  Semaphore,
} from "../mod.ts";
import { contended, inspect } from "../src/admin.ts";
import { sharedRedisUrl, startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { delay, until } from "./_until.ts";

const url = sharedRedisUrl();

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

test("observe: every event carries the waiter/lease id that inspect() lists", async () => {
  await using redis = await connect(url);
  const name = unique("ids");
  const logged: string[] = [];
  const logger = { debug: (line: string) => logged.push(line) };
  const mutex = new Mutex(redis, name, { leaseMs: 1_500, logger });
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
  const first = await mutex.acquire();
  const byType = (type: string) => events.filter((e) => e.type === type);
  assert.equal(byType("acquired")[0].id, first.id);
  assert.deepEqual((await inspect(redis, name)).holders.map((h) => h.id), [
    first.id,
  ]);
  // A waiter: its id in 'waiting', then in 'acquired', as its lease's id.
  const second = mutex.acquire();
  await until("the waiter queued", () => byType("waiting").length === 1);
  const waiterId = byType("waiting")[0].id;
  assert.ok(waiterId && waiterId !== first.id, String(waiterId));
  await first.release();
  const lease = await second;
  assert.equal(lease.id, waiterId);
  assert.equal(byType("acquired")[1].id, waiterId);
  assert.deepEqual((await inspect(redis, name)).holders.map((h) => h.id), [
    waiterId,
  ]);
  assert.equal(byType("released")[0].id, first.id);
  await until("a renewal", () => byType("renewed").length > 0);
  assert.equal(byType("renewed")[0].id, waiterId);
  // A waiter that gives up: its own id.
  await mutex.acquire(AbortSignal.timeout(50)).catch(() => {});
  const gaveUp = byType("timeout")[0];
  assert.ok(gaveUp.id && gaveUp.id !== waiterId, String(gaveUp.id));
  assert.equal(gaveUp.snapshot?.holders[0]?.id, waiterId);
  await redis.send("DEL", `redsync:{${name}}:holders`);
  await new Promise((r) => lease.signal.addEventListener("abort", r));
  assert.equal(byType("lost")[0].id, waiterId);
  assert.ok(logged.some((l) => l.includes(`id=${waiterId}`)), logged.join());
});

test("observe: a timeout carries who held the lock: the event's and LockTimeoutError's snapshot name the holder's meta and token", async () => {
  await using redis = await connect(url);
  const name = unique("snapshot");
  const meta = "host-a pid 42 job 7";
  const holder = await new Mutex(redis, name).acquire({ meta });
  const queued = new Mutex(redis, name).acquire();
  const mutex = new Mutex(redis, name);
  const timeouts: LockEvent[] = [];
  mutex.addEventListener("timeout", (event) => timeouts.push(event));
  await until(
    "the other waiter queued",
    async () => (await inspect(redis, name)).queued === 1,
  );
  await new Promise((r) => setTimeout(r, 300)); // held for a while
  const error = await mutex.runExclusive(() => "ran", { wait: 200 })
    .catch((e) => e);
  assert.ok(error instanceof LockTimeoutError, String(error));
  const { snapshot } = error;
  assert.ok(snapshot, "a snapshot");
  assert.equal(snapshot.holders.length, 1);
  const [seen] = snapshot.holders;
  assert.equal(seen.meta, meta);
  assert.equal(seen.token, holder.token);
  assert.equal(seen.id, holder.id);
  assert.equal(seen.permits, 1);
  assert.ok(seen.heldMs >= 300 && seen.heldMs < 120_000, `${seen.heldMs}`);
  assert.ok(seen.remainingMs > 0 && seen.remainingMs <= 30_000);
  assert.equal(snapshot.queued, 1); // the other waiter (this one had left)
  assert.equal(snapshot.waiters, 1);
  assert.ok(error.message.includes(`'${meta}'`), error.message);
  assert.ok(error.message.includes(`token ${holder.token}`), error.message);
  // The event: the same snapshot, and the waiter's id.
  assert.equal(timeouts.length, 1);
  assert.deepEqual(timeouts[0].snapshot, snapshot);
  assert.ok(timeouts[0].id && timeouts[0].id !== holder.id);
  // acquire(signal) still rejects with signal.reason; its event has one too.
  const reason = await mutex.acquire(AbortSignal.timeout(100)).catch((e) => e);
  assert.equal((reason as Error).name, "TimeoutError", String(reason));
  assert.equal(timeouts[1].snapshot?.holders[0]?.meta, meta);
  // No meta: the message names the token.
  await holder.release();
  const next = await queued;
  const plain = await mutex.runExclusive(() => {}, { wait: 100 })
    .catch((e) => e);
  assert.ok(plain instanceof LockTimeoutError, String(plain));
  assert.equal(plain.snapshot?.holders[0]?.meta, undefined);
  assert.ok(plain.message.includes(`token ${next.token}`), plain.message);
  await next.release();
});

test("observe: with Redis frozen, a timeout rejects within the snapshot's bound, without a snapshot", async () => {
  await using server = await startRedis();
  await using redis = await connect({
    url: server.url,
    commandTimeoutMs: 30_000,
  });
  const name = unique("frozen");
  const mutex = new Mutex(redis, name);
  const holder = await new Mutex(redis, name).acquire({ meta: "held" });
  const timeouts: LockEvent[] = [];
  mutex.addEventListener("timeout", (event) => timeouts.push(event));
  server.signal("SIGSTOP");
  try {
    const started = performance.now();
    const error = await mutex.runExclusive(() => {}, { wait: 300 })
      .catch((e) => e);
    const tookMs = performance.now() - started;
    assert.ok(error instanceof LockTimeoutError, String(error));
    assert.equal(error.snapshot, undefined);
    assert.equal(timeouts[0]?.snapshot, undefined);
    assert.ok(tookMs < 10_000, `took ${Math.round(tookMs)} ms`); // not 30 s
  } finally {
    server.signal("SIGCONT");
  }
  await holder.release();
});
