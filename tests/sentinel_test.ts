/**
 * Redis Sentinel: the client follows the primary of a monitored master,
 * through a failover, with locks working on it unchanged.
 */
import assert from "node:assert/strict";
import { connect, ConnectionError, Mutex, Semaphore } from "../mod.ts";
import { startSentinels } from "../harness/sentinel.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { delay, until } from "./_until.ts";

test(
  "sentinel: connects to the primary the sentinels name; bad names and unreachable sentinels are clear errors",
  async () => {
    await using topology = await startSentinels();
    await using redis = await connect(topology.url);
    assert.match(redis.url, /^redis\+sentinel:\/\/127\.0\.0\.1:\d+,/);
    await redis.send("SET", "sentinel:k", "v");
    assert.equal(await redis.send("GET", "sentinel:k"), "v");
    const role = await redis.send("ROLE") as string[];
    assert.equal(role[0], "master");
    // The options form, with one sentinel: the others are learned from it.
    await using viaOptions = await connect({
      sentinel: { nodes: [topology.sentinels[0]], name: topology.name },
    });
    const mutex = new Mutex(viaOptions, unique("sentinel"));
    await (await mutex.acquire()).release();
    const wrongName = await connect({
      sentinel: { nodes: topology.sentinels, name: "no-such-master" },
      reconnect: false,
    }).catch((e) => e);
    assert.ok(wrongName instanceof ConnectionError, String(wrongName));
    assert.match(
      wrongName.message,
      /no sentinel knows a master named 'no-such-master'/,
    );
    const down = await connect({
      sentinel: { nodes: ["127.0.0.1:1", "127.0.0.1:2"], name: topology.name },
      connectTimeoutMs: 2_000,
      reconnect: false,
    }).catch((e) => e);
    assert.ok(down instanceof ConnectionError, String(down));
    assert.match(down.message, /no sentinel answered/);
  },
  { timeoutMs: 60_000 },
);

test(
  "sentinel: after a failover the client follows the new primary; a waiter waits on and gets the lock",
  async () => {
    await using topology = await startSentinels();
    const options = {
      url: topology.url,
      commandTimeoutMs: 2_000,
      reconnect: { minDelayMs: 50, maxDelayMs: 300 },
    };
    await using holderClient = await connect(options);
    await using waiterClient = await connect(options);
    const name = unique("failover");
    const holder = await new Mutex(holderClient, name, { leaseMs: 3_000 })
      .acquire();
    const waiting = new Mutex(waiterClient, name).acquire(
      AbortSignal.timeout(40_000),
    );
    waiting.catch(() => {}); // awaited below; handled if the test fails first
    await until(
      "the waiter to queue",
      async () => (await new Mutex(holderClient, name).info()).waiters === 1,
    );
    const before = await topology.primaryPort();
    assert.equal(before, topology.primary.port);
    await using admin = await connect({
      port: Number(topology.sentinels[0].split(":")[1]),
    });
    assert.equal(
      await admin.send("SENTINEL", "FAILOVER", topology.name),
      "OK",
    );
    await until(
      "the failover",
      async () => await topology.primaryPort() !== before,
      30_000,
    );
    assert.equal(await topology.primaryPort(), topology.replica.port);
    // The clients follow: writes succeed on the new primary.
    await until(
      "writes to resume",
      () =>
        holderClient.send("SET", "sentinel:after", "1")
          .then(() => true, () => false),
      30_000,
    );
    assert.equal((await holderClient.send("ROLE") as string[])[0], "master");
    // The holder's lease either replicated (then its release hands over) or
    // was lost with the old primary (then it runs out): either way the
    // waiter gets the lock, on the new primary.
    await holder.release().catch(() => {});
    const lease = await waiting;
    assert.ok(lease.held);
    await lease.release();
  },
  { timeoutMs: 90_000 },
);

test(
  "sentinel: the primary killed during contention on a semaphore: acquisitions resume on the new primary, never over the limit among holders granted after it",
  async () => {
    await using topology = await startSentinels();
    const options = {
      url: topology.url,
      commandTimeoutMs: 1_500,
      reconnect: { minDelayMs: 50, maxDelayMs: 300 },
    };
    const clients = await Promise.all(
      Array.from({ length: 4 }, () => connect(options)),
    );
    try {
      const name = unique("killed-primary");
      const semaphores = await Promise.all(
        clients.map((client) =>
          Semaphore.create(client, name, { permits: 2, leaseMs: 2_000 })
        ),
      );
      let killedAt = Infinity;
      let grants = 0;
      let holding = 0;
      let mostAfter = 0;
      const acquiredAfter: number[] = [];
      const stopAt = { value: Infinity };
      const worker = async (semaphore: Semaphore) => {
        while (performance.now() < stopAt.value) {
          const calledAt = performance.now();
          const lease = await semaphore.acquire(AbortSignal.timeout(30_000));
          grants++;
          // Only acquisitions asked for once the primary was dead count.
          const grantedAfter = calledAt > killedAt;
          if (grantedAfter) {
            holding++;
            mostAfter = Math.max(mostAfter, holding);
            acquiredAfter.push(performance.now() - killedAt);
          }
          await delay(20);
          if (grantedAfter) holding--;
          await lease.release().catch(() => {}); // may have been lost with it
        }
      };
      const running = [...semaphores, ...semaphores].map(worker);
      await until("contention on the first primary", () => grants >= 20);
      await topology.primary.kill();
      killedAt = performance.now();
      // Sentinel notices (down-after 1 s), elects and promotes the replica.
      await until(
        "20 acquisitions after the kill",
        () => acquiredAfter.length >= 20,
        30_000,
      );
      stopAt.value = performance.now();
      await Promise.all(running);
      assert.equal(await topology.primaryPort(), topology.replica.port);
      assert.ok(mostAfter <= 2, `${mostAfter} holders at once after the kill`);
      console.log(
        `failover: first acquisition asked for after the kill: ${
          Math.round(acquiredAfter[0])
        } ms after it (down-after-milliseconds 1000)`,
      );
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  },
  { timeoutMs: 90_000 },
);
