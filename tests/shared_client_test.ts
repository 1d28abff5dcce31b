/**
 * The production shape: ONE client shared by many waiters, and faults while
 * they wait (connections killed, Redis restarted, half-open sockets).
 */
import assert from "node:assert/strict";
import process from "node:process";
import {
  AutoResetEvent,
  connect,
  type Lease,
  ManualResetEvent,
  Mutex,
  type RedisClient,
  Semaphore,
} from "../mod.ts";
import { sharedRedisUrl, startRedis } from "../harness/server.ts";
import { startProxy } from "../harness/proxy.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { delay, until } from "./_until.ts";
import { type Connector, defaultConnector } from "../src/transport/mod.ts";
import { PING_AFTER_MS } from "../src/client/channel_hub.ts";

const url = sharedRedisUrl();

/** Connections the server has open under `clientName` (`CLIENT LIST`). */
async function connectionsNamed(
  admin: RedisClient,
  clientName: string,
): Promise<number> {
  const list = String(await admin.send("CLIENT", "LIST"));
  return list.split("\n").filter((line) =>
    line.includes(` name=${clientName} `)
  )
    .length;
}

test(
  "shared client: 2,000 waiters on one mutex are served in FIFO order, one at a time, over 2 connections",
  async () => {
    const clientName = `fifo-${crypto.randomUUID().slice(0, 8)}`;
    await using admin = await connect(url);
    await using redis = await connect({ url, clientName });
    const mutex = new Mutex(redis, unique("fifo"));
    const first = await mutex.acquire();
    const n = 2_000;
    const order: number[] = [];
    const tokens: number[] = [];
    let holding = 0;
    let most = 0;
    const waiters = Array.from(
      { length: n },
      (_, i) =>
        mutex.acquire(AbortSignal.timeout(60_000)).then(async (lease) => {
          holding++;
          most = Math.max(most, holding);
          order.push(i);
          tokens.push(lease.token);
          await delay(0); // hold across a turn of the event loop
          holding--;
          await lease.release();
        }),
    );
    await until(
      "every waiter to queue",
      async () => (await mutex.info()).waiters === n,
    );
    const connections = await connectionsNamed(admin, clientName);
    assert.ok(connections <= 2, `${connections} connections for ${n} waiters`);
    await first.release();
    await Promise.all(waiters);
    assert.equal(most, 1, "never two holders at once");
    assert.deepEqual(order, Array.from({ length: n }, (_, i) => i), "FIFO");
    for (let i = 1; i < n; i++) assert.ok(tokens[i] > tokens[i - 1]);
    assert.ok(await connectionsNamed(admin, clientName) <= 2);
  },
  { timeoutMs: 120_000 },
);

test("shared client: idle event waits never block a lock hand-off", async () => {
  const clientName = `idle-${crypto.randomUUID().slice(0, 8)}`;
  await using admin = await connect(url);
  await using redis = await connect({ url, clientName });
  const manual = new ManualResetEvent(redis, unique("work"));
  const auto = new AutoResetEvent(redis, unique("jobs"));
  // More idle waits than the blocking pool has connections (16).
  const idle = [
    ...Array.from({ length: 40 }, () => manual.wait()),
    ...Array.from({ length: 40 }, () => auto.wait()),
  ];
  // Every idle wait is registered (and blocked) before the hand-offs.
  await until(
    "the idle waits to register",
    async () =>
      (await manual.info()).waiters === 40 &&
      await admin.send("ZCARD", `redsync:{${auto.name}}:takers`) === 40,
  );
  const mutex = new Mutex(redis, unique("busy"));
  for (let round = 0; round < 20; round++) {
    const held = await mutex.acquire(AbortSignal.timeout(20_000));
    const next = mutex.acquire(AbortSignal.timeout(20_000));
    // A hand-off: `next` queued before the release.
    await until(
      "the next to queue",
      async () => (await mutex.info()).waiters === 1,
    );
    await held.release();
    await (await next).release();
  }
  assert.ok(await connectionsNamed(admin, clientName) <= 2);
  assert.equal(await manual.set(), 40, "every manual waiter was registered");
  for (let i = 0; i < 40; i++) assert.equal(await auto.set(), true);
  await Promise.all(idle);
  assert.equal(await auto.pending(), 0, "each set went to exactly one wait");
});

test(
  "shared client: 10,000 mixed waits (locks on 100 names, events, user BLPOPs) over a bounded number of connections",
  async () => {
    const clientName = `mixed-${crypto.randomUUID().slice(0, 8)}`;
    await using admin = await connect(url);
    await using redis = await connect({ url, clientName });
    const tag = crypto.randomUUID().slice(0, 8);
    const mutexes = Array.from(
      { length: 50 },
      (_, i) => new Mutex(redis, `mixed-m${i}-${tag}`),
    );
    const semaphores = await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) => Semaphore.create(redis, `mixed-s${i}-${tag}`, { permits: 3 }),
      ),
    );
    const manuals = Array.from(
      { length: 10 },
      (_, i) => new ManualResetEvent(redis, `mixed-e${i}-${tag}`),
    );
    const autos = Array.from(
      { length: 10 },
      (_, i) => new AutoResetEvent(redis, `mixed-a${i}-${tag}`),
    );
    const list = `mixed-list-${tag}`;
    // Every lock starts held, so all 6,000 acquires wait at once.
    const gates: Lease[] = [
      ...await Promise.all(mutexes.map((m) => m.acquire())),
      ...await Promise.all(semaphores.map((s) => s.acquire({ permits: 3 }))),
    ];
    const signal = AbortSignal.timeout(100_000);
    const cycle = (lease: Promise<Lease>) => lease.then((l) => l.release());
    const waits: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      for (const m of mutexes) waits.push(cycle(m.acquire(signal)));
      for (const s of semaphores) waits.push(cycle(s.acquire(signal)));
    }
    for (let i = 0; i < 2_000; i++) waits.push(manuals[i % 10].wait(signal));
    for (let i = 0; i < 1_900; i++) waits.push(autos[i % 10].wait(signal));
    for (let i = 0; i < 100; i++) {
      waits.push(redis.command(["BLPOP", list, 0], { signal }));
    }
    assert.equal(waits.length, 10_000);
    // Every wait registered at once: the 6,000 acquires queued, the 3,900
    // event waits in line, and as many BLPOPs blocked as there are pool
    // connections (16; the others wait for one).
    const count = async (keys: string[]) =>
      (await Promise.all(keys.map((k) => admin.send("ZCARD", k))))
        .reduce((sum: number, n) => sum + Number(n), 0);
    const locks = [...mutexes, ...semaphores].map((l) =>
      `redsync:{${l.name}}:queue`
    );
    const takers = autos.map((e) => `redsync:{${e.name}}:takers`);
    await until("every wait to register", async () => {
      const listeners = await Promise.all(manuals.map((e) => e.info()));
      const blpops = String(await admin.send("CLIENT", "LIST")).split("\n")
        .filter((l) =>
          l.includes(` name=${clientName} `) && l.includes(" cmd=blpop ")
        );
      return await count(locks) === 6_000 && await count(takers) === 1_900 &&
        listeners.reduce((sum, i) => sum + i.waiters, 0) === 2_000 &&
        // The wake hub subscribes: it never blocks a connection.
        blpops.length === 16;
    }, 60_000);
    const open = await connectionsNamed(admin, clientName);
    // main + wake hub + the blocking pool (16), whatever the waiters.
    assert.ok(open <= 18, `${open} connections for 10,000 waits`);
    await Promise.all(gates.map((g) => g.release()));
    await Promise.all(manuals.map((e) => e.set()));
    for (let i = 0; i < 1_900; i++) await autos[i % 10].set();
    await redis.send(
      "RPUSH",
      list,
      ...Array.from({ length: 100 }, (_, i) => i),
    );
    await Promise.all(waits);
    assert.ok(await connectionsNamed(admin, clientName) <= 18);
  },
  { timeoutMs: 120_000 },
);

test("shared client: a waiter survives CLIENT KILL of its main and hub connections and gets the lock", async () => {
  // A private server: CLIENT KILL TYPE normal would cut every other test too.
  await using server = await startRedis();
  await using admin = await connect(server.url);
  const clientName = `killed-${crypto.randomUUID().slice(0, 8)}`;
  const options = {
    url: server.url,
    reconnect: { minDelayMs: 20, maxDelayMs: 200 },
  };
  await using holderClient = await connect(options);
  await using waiterClient = await connect({ ...options, clientName });
  const name = unique("killed");
  const holder = await new Mutex(holderClient, name).acquire();
  const waiting = new Mutex(waiterClient, name).acquire(
    AbortSignal.timeout(20_000),
  );
  waiting.catch(() => {}); // awaited below; handled if the test fails first
  // Every connection but the admin's, twice, while the waiter waits: the
  // second time once it reconnected and its hub subscribed again (the hub
  // is a pub/sub connection: TYPE pubsub).
  for (let i = 0; i < 2; i++) {
    await until(
      "the waiter's hub to subscribe",
      async () =>
        await connectionsNamed(admin, clientName) === 2 &&
        await hubSubscribed(admin, clientName),
    );
    const killed = await admin.send("CLIENT", "KILL", "TYPE", "normal");
    assert.ok(Number(killed) >= 2, `killed ${killed}`);
    const hubs = await admin.send("CLIENT", "KILL", "TYPE", "pubsub");
    assert.ok(Number(hubs) >= 1, `killed ${hubs} hub connections`);
  }
  await holder.release();
  const lease = await waiting;
  assert.ok(lease.held);
  const info = await new Mutex(admin, name).info();
  assert.deepEqual(info.holders.map((h) => h.id), [lease.id]);
  await lease.release();
});

test(
  "shared client: a waiter survives a Redis restart (AOF) and gets the lock",
  async () => {
    await using server = await startRedis({
      args: ["--appendonly", "yes", "--appendfsync", "always"],
    });
    const options = {
      url: server.url,
      reconnect: { minDelayMs: 20, maxDelayMs: 200 },
    };
    await using holderClient = await connect(options);
    await using waiterClient = await connect(options);
    const name = unique("restart");
    const holder = await new Mutex(holderClient, name).acquire();
    const waiting = new Mutex(waiterClient, name).acquire(
      AbortSignal.timeout(30_000),
    );
    await until(
      "the waiter to queue",
      async () => (await new Mutex(holderClient, name).info()).waiters === 1,
    );
    await server.restart();
    assert.ok(holder.held, "the holder kept its lease through the restart");
    await holder.release();
    const lease = await waiting;
    assert.ok(lease.token > holder.token);
    await lease.release();
  },
  { timeoutMs: 60_000 },
);

test(
  "shared client: a half-open socket is noticed by its deadline; the waiter re-arms and gets the lock",
  async () => {
    await using server = await startRedis();
    await using proxy = await startProxy(server.port);
    const commandTimeoutMs = 500;
    await using direct = await connect(server.url);
    const clientName = `halfopen-${crypto.randomUUID().slice(0, 8)}`;
    await using viaProxy = await connect({
      url: proxy.url,
      clientName,
      commandTimeoutMs,
      reconnect: { minDelayMs: 20, maxDelayMs: 100 },
    });
    const name = unique("halfopen");
    const holder = await new Mutex(direct, name).acquire();
    // A long waiter TTL: its own heartbeat (every 20 s) cannot be what
    // rescues it; only the hub's deadline can.
    const waiting = new Mutex(viaProxy, name, { waiterTtlMs: 60_000 }).acquire(
      AbortSignal.timeout(30_000),
    );
    // Frozen only once the hub has subscribed: its connection is the one
    // whose half-open socket must be noticed.
    await until(
      "the hub to subscribe",
      async () => await hubSubscribed(direct, clientName),
    );
    const before = proxy.accepted;
    proxy.freeze(); // the main and the hub connection: no RST, no FIN
    const frozenAt = performance.now();
    await holder.release(); // the grant's wake message cannot get through
    const lease = await waiting;
    const tookMs = performance.now() - frozenAt;
    // The hub pings after PING_AFTER_MS of silence, checked every 500 ms;
    // the answer is due within commandTimeoutMs. Generous bound: it woke up
    // because the ping's deadline worked, not by luck. (Its own heartbeat
    // would come after 20 s.)
    assert.ok(
      tookMs < PING_AFTER_MS + 500 + commandTimeoutMs + 10_000,
      `took ${tookMs} ms`,
    );
    assert.ok(
      proxy.accepted > before,
      "new connections replaced the dead ones",
    );
    const info = await new Mutex(direct, name).info();
    assert.deepEqual(info.holders.map((h) => h.id), [lease.id]);
    await lease.release();
  },
  { timeoutMs: 60_000 },
);

test("shared client: an idle hub is pinged, answers, and keeps its connection; the next grant reaches it as a message", async () => {
  await using server = await startRedis();
  await using admin = await connect(server.url);
  const clientName = `ping-${crypto.randomUUID().slice(0, 8)}`;
  // A short command timeout: a ping answered late would drop the hub.
  await using redis = await connect({
    url: server.url,
    clientName,
    commandTimeoutMs: 1_000,
  });
  const name = unique("ping");
  const holder = await new Mutex(admin, name).acquire();
  // A long waiter TTL: no heartbeat (every 20 s) within this test, so only
  // a wake message can hand it the lock in time.
  const waiting = new Mutex(redis, name, { waiterTtlMs: 60_000 }).acquire(
    AbortSignal.timeout(30_000),
  );
  waiting.catch(() => {});
  const hub = async () =>
    String(await admin.send("CLIENT", "LIST")).split("\n").find((line) =>
      line.includes(` name=${clientName} `) && / sub=[1-9]/.test(line)
    );
  await until("the hub to subscribe", async () => (await hub()) !== undefined);
  const id = /\bid=(\d+)/.exec((await hub())!)![1];
  // Silent for PING_AFTER_MS, the hub pings; answered, it stays. Twice
  // (from now on, only the hub sends PING to this private server).
  const pings = async () =>
    Number(
      /cmdstat_ping:calls=(\d+)/.exec(
        String(await admin.send("INFO", "commandstats")),
      )?.[1] ?? 0,
    );
  const before = await pings();
  await until(
    "the hub to ping twice",
    async () => await pings() >= before + 2,
    2 * PING_AFTER_MS + 10_000,
  );
  assert.equal(/\bid=(\d+)/.exec((await hub())!)![1], id, "same connection");
  const released = performance.now();
  await holder.release();
  const lease = await waiting;
  const tookMs = performance.now() - released;
  // Woken by its message, not by a heartbeat (20 s) or a re-arm.
  assert.ok(tookMs < 10_000, `took ${tookMs} ms`);
  assert.equal(/\bid=(\d+)/.exec((await hub())!)![1], id, "still the same");
  await lease.release();
});

test(
  "shared client: an abort in the microtasks right after a grant never keeps nor loses the lock",
  async () => {
    // The waiter's transport is wrapped: right after the bytes of a grant's
    // wake message are handed to the client (which dispatches them in that
    // same call), the test aborts the waiter after 0..39 microtask hops. That
    // sweeps the window between the grant reaching this process and its
    // acquire() resuming, where an abort once returned a lease it had undone.
    let onGrant: (() => void) | undefined;
    const wrapped: Connector = (options, handlers) =>
      defaultConnector()(options, {
        onClose: (error) => handlers.onClose(error),
        onData(chunk) {
          handlers.onData(chunk);
          const text = new TextDecoder().decode(chunk);
          if (onGrant && /\.[0-9a-z]+\|\d+:\d+/.test(text)) {
            const fire = onGrant;
            onGrant = undefined;
            fire();
          }
        },
      });
    const clientName = `race-${crypto.randomUUID().slice(0, 8)}`;
    await using redis = await connect({ url, clientName, connector: wrapped });
    await using other = await connect(url);
    // The hub subscribed before the rounds, and kept so by an idle event
    // wait: every grant below reaches the waiter as a message (a waiter
    // made before the subscription was confirmed would re-check Redis and
    // take its grant there instead).
    const idle = new ManualResetEvent(redis, unique("race-keep"));
    const idling = idle.wait(AbortSignal.timeout(110_000));
    idling.catch(() => {});
    await until(
      "the idle wait to register and the hub to subscribe",
      async () =>
        (await idle.info()).waiters === 1 &&
        await hubSubscribed(other, clientName),
    );
    const name = unique("race");
    const mutex = new Mutex(redis, name);
    const holderMutex = new Mutex(other, name);
    const outcomes = { kept: 0, aborted: 0 };
    for (let round = 0; round < 160; round++) {
      const held = await holderMutex.acquire();
      const controller = new AbortController();
      const pending = mutex.acquire(controller.signal);
      pending.catch(() => {});
      const hops = round % 40;
      const fired = new Promise<void>((resolve) => {
        onGrant = async () => {
          for (let i = 0; i < hops; i++) await Promise.resolve();
          controller.abort();
          resolve();
        };
      });
      await until(
        "the waiter to queue",
        async () => (await holderMutex.info()).waiters === 1,
      );
      await held.release();
      await fired;
      const lease = await pending.then((l) => l, () => undefined);
      if (lease) {
        outcomes.kept++;
        assert.ok(lease.held);
        const info = await holderMutex.info();
        assert.deepEqual(
          info.holders.map((h) => h.id),
          [lease.id],
          `round ${round} (${hops} hops): a lease the server does not have`,
        );
        await lease.release();
      } else {
        outcomes.aborted++;
        await until(
          "the undo to land",
          async () => (await holderMutex.info()).holders.length === 0,
          10_000,
        );
      }
      // Either way the mutex is free now, and nothing is queued.
      const check = await holderMutex.tryAcquire();
      assert.ok(check, `round ${round} (${hops} hops): the mutex is not free`);
      await check.release();
    }
    await idle.set();
    await idling;
    assert.equal(outcomes.kept + outcomes.aborted, 160);
    // The sweep covers both sides of the window.
    assert.ok(
      outcomes.aborted > 0 && outcomes.kept > 0,
      JSON.stringify(outcomes),
    );
  },
  { timeoutMs: 120_000 },
);

test(
  "client: WAIT counts the caller's writes: it runs on the main connection (with a replica)",
  async () => {
    await using primary = await startRedis();
    await using replica = await startRedis({
      args: [
        "--replicaof",
        "127.0.0.1",
        String(primary.port),
      ],
    });
    await using redis = await connect(primary.url);
    await using replicaClient = await connect(replica.url);
    const key = unique("wait");
    await until("the replica to sync", async () => {
      await redis.send("SET", key, "0");
      return await redis.send("WAIT", 1, 100) === 1;
    });
    // The replica stops acknowledging (stopped, from before the write on:
    // a DEBUG SLEEP sent just before might start after it): a write made
    // now is not acknowledged, so WAIT on the writer's connection answers 0
    // at its timeout. (From a connection that wrote nothing it would
    // answer 1.)
    const info = String(await replicaClient.send("INFO", "server"));
    const pid = Number(/process_id:(\d+)/.exec(info)![1]);
    process.kill(pid, "SIGSTOP");
    try {
      await redis.send("SET", key, "1");
      const started = performance.now();
      assert.equal(await redis.send("WAIT", 1, 300), 0);
      assert.ok(performance.now() - started >= 250);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    assert.equal(await redis.send("WAIT", 1, 10_000), 1);
  },
  { timeoutMs: 60_000 },
);

test("shared client: a grant read after its lease ended (a blocked event loop) never becomes an ended Lease", async () => {
  const clientName = `late-${crypto.randomUUID().slice(0, 8)}`;
  await using redis = await connect({ url, clientName });
  await using other = await connect(url);
  const name = unique("late");
  const holder = await new Mutex(other, name).acquire();
  const waiting = new Mutex(redis, name, { leaseMs: 1_500 }).acquire(
    AbortSignal.timeout(10_000),
  );
  waiting.catch(() => {});
  await until(
    "the waiter to queue",
    async () => (await new Mutex(other, name).info()).waiters === 1,
  );
  await until(
    "its hub to subscribe",
    async () => await hubSubscribed(other, clientName),
  );
  // The release is written (microtasks only: no reply can be read yet),
  // then this process stalls for longer than the 1.5 s lease it grants,
  // so the waiter reads its grant after the lease ended on the server.
  const releasing = holder.release();
  for (let i = 0; i < 10; i++) await Promise.resolve();
  const end = performance.now() + 1_650;
  while (performance.now() < end) { /* a blocked event loop */ }
  await releasing;
  const lease = await waiting;
  assert.ok(lease.held, "handed out held");
  assert.ok(lease.remainingMs > 500, `${lease.remainingMs} ms left`);
  const info = await new Mutex(other, name).info();
  assert.deepEqual(info.holders.map((h) => h.id), [lease.id]);
  assert.ok(info.holders[0].remainingMs > 500, "and held on the server");
  await lease.release();
});

test("shared client: a burst of grants on many names reaches the waiters without a command per grant (one wake channel per client)", async () => {
  // The waiters' client counts what it writes (all its connections).
  let writes = 0;
  const counting: Connector = async (options, handlers) => {
    const transport = await defaultConnector()(options, handlers);
    return {
      write(bytes) {
        writes++;
        transport.write(bytes);
      },
      close: () => transport.close(),
      destroy: transport.destroy && (() => transport.destroy!()),
    };
  };
  await using server = await startRedis();
  await using holders = await connect(server.url);
  await using waiters = await connect({ url: server.url, connector: counting });
  await using observer = await connect(server.url);
  // The hub subscribed, and kept so by an idle event wait: the waiters
  // below are made after its subscription was confirmed, so none of them
  // re-checks Redis for it.
  const idle = new ManualResetEvent(waiters, unique("keep"));
  const idling = idle.wait(AbortSignal.timeout(60_000));
  await until(
    "the idle wait to register and the hub to subscribe",
    async () =>
      (await idle.info()).waiters === 1 &&
      await hubSubscribed(observer, undefined),
  );
  const names = Array.from({ length: 300 }, (_, i) => unique(`burst-${i}`));
  const held = await Promise.all(
    names.map((name) => new Mutex(holders, name).acquire()),
  );
  const waiting = names.map((name) =>
    new Mutex(waiters, name).acquire(AbortSignal.timeout(20_000))
  );
  await until("every waiter queued", async () => {
    const queued = await Promise.all(
      names.map((name) => observer.send("ZCARD", `redsync:{${name}}:queue`)),
    );
    return queued.every((n) => Number(n) === 1);
  });
  const before = writes;
  await Promise.all(held.map((lease) => lease.release())); // 300 grants at once
  const leases = await Promise.all(waiting);
  // The waiters' client read the 300 grants off its subscription: no pop,
  // no re-check per grant (a wake list per primitive took one BLMPOP per
  // name; one list per client, a few). Heartbeats may fall in the window.
  const sent = writes - before;
  assert.ok(sent <= 10, `the waiters' client wrote ${sent} times`);
  await Promise.all(leases.map((lease) => lease.release()));
  await idle.set();
  await idling;
});

/**
 * Whether a connection of `clientName` (any, without a name) is a
 * subscriber: the wake hub, once subscribed (`CLIENT LIST`: `sub=` > 0).
 */
async function hubSubscribed(
  admin: RedisClient,
  clientName: string | undefined,
): Promise<boolean> {
  const list = String(await admin.send("CLIENT", "LIST"));
  return list.split("\n").some((line) =>
    (clientName === undefined || line.includes(` name=${clientName} `)) &&
    / sub=[1-9]/.test(line)
  );
}
