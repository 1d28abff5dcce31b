/**
 * Redis Cluster: the client reads the slot map, routes every command to the
 * owner of its key's slot, follows MOVED/ASK through a resharding and the
 * slot map through failovers; the primitives work on it unchanged.
 */
import assert from "node:assert/strict";
import {
  connect,
  ConnectionError,
  ManualResetEvent,
  Mutex,
  Semaphore,
} from "../mod.ts";
import { startCluster } from "../harness/cluster.ts";
import { startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";

test(
  "cluster: commands reach the owner of their slot; locks and events work across slots",
  async () => {
    await using cluster = await startCluster();
    await using redis = await connect(cluster.url);
    assert.match(redis.url, /^redis\+cluster:\/\/127\.0\.0\.1:\d+,/);
    // 200 keys over every primary, set and read back through the client.
    const keys = Array.from({ length: 200 }, (_, i) => `k:${i}`);
    await Promise.all(keys.map((key, i) => redis.send("SET", key, i)));
    const values = await Promise.all(keys.map((key) => redis.send("GET", key)));
    assert.deepEqual(values, keys.map((_, i) => String(i)));
    const owners = new Set(
      await Promise.all(
        keys.slice(0, 30).map(async (k) =>
          cluster.ownerOf(await cluster.keySlot(k))
        ),
      ),
    );
    assert.equal(owners.size, 3, "the keys span every primary");
    // Every primary has its share of keys (DBSIZE per node).
    const primaries = await cluster.primaries();
    const sizes = await Promise.all(
      primaries.map(async (p) => Number(await cluster.cli(p.port, "DBSIZE"))),
    );
    assert.ok(sizes.every((n) => n > 0), `keys on every primary: ${sizes}`);
    // Scripts, a multi-key command within one slot, CROSSSLOT otherwise.
    assert.equal(
      await redis.send("EVAL", "return redis.call('GET', KEYS[1])", 1, "k:7"),
      "7",
    );
    await redis.send("MSET", "{t}a", 1, "{t}b", 2);
    assert.deepEqual(await redis.send("MGET", "{t}a", "{t}b"), ["1", "2"]);
    await assert.rejects(redis.send("MGET", "k:1", "k:2"), /CROSSSLOT/);
    // A blocking command, served from another client.
    const popped = redis.send("BLPOP", "{q}list", 5);
    await redis.send("RPUSH", "{q}list", "x");
    assert.deepEqual(await popped, ["{q}list", "x"]);

    // Mutexes on 100 names, contended by 4 tasks each on one shared client.
    const names = Array.from({ length: 100 }, (_, i) => unique(`m${i}`));
    let inside = 0;
    let most = 0;
    await Promise.all(names.flatMap((name) => {
      const mutex = new Mutex(redis, name, { leaseMs: 5_000 });
      return Array.from({ length: 4 }, async () => {
        await using _lease = await mutex.acquire(AbortSignal.timeout(30_000));
        inside++;
        most = Math.max(most, inside);
        await new Promise((r) => setTimeout(r, 5));
        inside--;
      });
    }));
    assert.ok(most >= 2, "mutexes of different names are held at once");
    // A semaphore of 3 under 12 waiters: never more than 3 holders.
    const semaphore = await Semaphore.create(redis, unique("sem"), {
      permits: 3,
    });
    let holders = 0;
    let peak = 0;
    await Promise.all(Array.from({ length: 12 }, async () => {
      await using _lease = await semaphore.acquire(AbortSignal.timeout(30_000));
      holders++;
      peak = Math.max(peak, holders);
      await new Promise((r) => setTimeout(r, 20));
      holders--;
    }));
    assert.ok(peak <= 3 && peak >= 2, `peak holders ${peak}`);
    // An event wait woken by a set from another client.
    await using other = await connect({ cluster: { nodes: cluster.seeds } });
    const event = new ManualResetEvent(redis, unique("event"));
    const waited = event.wait(AbortSignal.timeout(10_000));
    await new Promise((r) => setTimeout(r, 50));
    await new ManualResetEvent(other, event.name).set();
    await waited;
    // WATCH/MULTI/EXEC on the node of the watched key.
    await redis.send("SET", "{acct}balance", 10);
    const committed = await redis.exclusive(async (send) => {
      await send("WATCH", "{acct}balance");
      const balance = Number(await send("GET", "{acct}balance"));
      await send("MULTI");
      await send("SET", "{acct}balance", balance + 5);
      return await send("EXEC");
    });
    assert.deepEqual(committed, ["OK"]);
    assert.equal(await redis.send("GET", "{acct}balance"), "15");
    // Replica-acknowledged grants: WAIT on the node of the primitive.
    const durable = new Mutex(redis, unique("durable"), {
      durability: { replicas: 1, timeoutMs: 1_000 },
    });
    await (await durable.acquire(AbortSignal.timeout(10_000))).release();
    // WAIT counts one connection's writes: not on a cluster client.
    await assert.rejects(redis.send("WAIT", 1, 100), TypeError);
    // natMap: every announced address goes through it.
    const seen = new Set<string>();
    await using mapped = await connect({
      cluster: {
        nodes: [cluster.seeds[0]],
        natMap: (address) => {
          seen.add(`${address.hostname}:${address.port}`);
          return address;
        },
      },
    });
    await Promise.all(keys.map((key) => mapped.send("GET", key)));
    const primaryPorts = (await cluster.primaries()).map((p) => p.port);
    for (const port of primaryPorts) assert.ok(seen.has(`127.0.0.1:${port}`));
  },
  { timeoutMs: 90_000 },
);

test(
  "cluster: a node that is not in cluster mode and unreachable seeds are clear errors",
  async () => {
    const down = await connect({
      cluster: { nodes: ["127.0.0.1:1", "127.0.0.1:2"] },
      connectTimeoutMs: 2_000,
      reconnect: false,
    }).catch((e) => e);
    assert.ok(down instanceof ConnectionError, String(down));
    assert.match(down.message, /Cannot read the slot map of redis\+cluster:/);
    // A plain server given as a cluster seed: told at once, not retried.
    await using plain = await startRedis();
    const started = performance.now();
    const notCluster = await connect({
      cluster: { nodes: [`127.0.0.1:${plain.port}`] },
      connectTimeoutMs: 5_000,
    }).catch((e) => e);
    assert.ok(notCluster instanceof ConnectionError, String(notCluster));
    assert.match(notCluster.message, /is not in cluster mode/);
    assert.ok(
      performance.now() - started < 4_000,
      "not retried until the timeout",
    );
    // Bad options: typed errors before any network call.
    await assert.rejects(
      connect({ cluster: { nodes: [] } }),
      /'cluster.nodes' must be a non-empty array/,
    );
    await assert.rejects(
      connect({ cluster: { nodes: ["h:1"] }, db: 2 }),
      RangeError,
    );
    await assert.rejects(
      connect("redis+cluster://h:1,h:2/3"),
      /a cluster has only database 0/,
    );
    await assert.rejects(
      connect({
        cluster: { nodes: ["h:1"] },
        sentinel: { nodes: ["s:1"], name: "m" },
      }),
      /exclude each other/,
    );
  },
);
