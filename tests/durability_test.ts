/**
 * Replica-acknowledged grants (`durability`): with a primary and a replica,
 * grants and hand-offs count once the replica has them; asking for more
 * replicas than there are is a shortfall: "fail" gives the permit back and
 * rejects with DurabilityError when the signal ends, "warn" keeps it and
 * reports it; renewals check too.
 */
import assert from "node:assert/strict";
import {
  connect,
  DurabilityError,
  inspect,
  type LockEvent,
  Mutex,
  Semaphore,
} from "../mod.ts";
import { waitForReplicas } from "../harness/replication.ts";
import { startRedis } from "../harness/server.ts";
import { test } from "./_test.ts";

const unique = (label: string) => `${label}:${crypto.randomUUID()}`;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function replicated() {
  const primary = await startRedis({
    args: ["--repl-diskless-sync-delay", "0"],
  });
  const replica = await startRedis({
    args: ["--replicaof", "127.0.0.1", String(primary.port)],
  });
  // Ready when a write is acknowledged, not when the link is "online".
  await waitForReplicas(primary.port);
  return {
    primary,
    replica,
    async [Symbol.asyncDispose]() {
      await replica.stop();
      await primary.stop();
    },
  };
}

test(
  "durability: grants, hand-offs and renewals count once a replica has them",
  async () => {
    await using servers = await replicated();
    await using a = await connect(servers.primary.url);
    await using b = await connect(servers.primary.url);
    const name = unique("durable");
    // A generous acknowledgement timeout: a loaded machine must not turn
    // the happy path into shortfalls (WAIT answers as soon as acked).
    const options = {
      leaseMs: 600,
      durability: { replicas: 1, timeoutMs: 400 },
    };
    const shortfalls: LockEvent[] = [];
    const mutexA = new Mutex(a, name, options);
    mutexA.addEventListener("shortfall", (e) => shortfalls.push(e));
    const lease = await mutexA.acquire(AbortSignal.timeout(5_000));
    // The replica has the grant already.
    await using onReplica = await connect(servers.replica.url);
    const holders = await onReplica.send(
      "ZCARD",
      `redsync:{${name}}:holders`,
    );
    assert.equal(holders, 1);
    // A waiter on another client: handed the lock, confirmed likewise.
    const mutexB = new Mutex(b, name, options);
    const waiting = mutexB.acquire(AbortSignal.timeout(5_000));
    await delay(50);
    // Renewals (every ~200 ms) go through WAIT too: the lease lives on.
    await delay(900);
    assert.equal(lease.signal.aborted, false, "renewed with durability");
    await lease.release();
    const second = await waiting;
    assert.ok(second.token > lease.token);
    await second.release();
    assert.deepEqual(shortfalls, []);
    // Each grant and renewal waited for the replica: WAIT ran that often.
    const stats = String(await a.send("INFO", "commandstats"));
    const waits = Number(/cmdstat_wait:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    assert.ok(waits >= 5, `WAIT calls: ${waits}`);
  },
  { timeoutMs: 60_000 },
);

test(
  "durability: too few replicas: 'fail' gives the permit back and rejects with DurabilityError; 'warn' keeps it",
  async () => {
    await using servers = await replicated();
    await using redis = await connect(servers.primary.url);
    const name = unique("shortfall");
    const failing = new Mutex(redis, name, {
      durability: { replicas: 2, timeoutMs: 50 },
    });
    const events: LockEvent[] = [];
    failing.addEventListener("shortfall", (e) => events.push(e));
    const error = await failing.acquire(AbortSignal.timeout(400)).catch((e) =>
      e
    );
    assert.ok(error instanceof DurabilityError, String(error));
    // One replica exists: it acknowledged in time, or (a loaded machine)
    // not within the 50 ms.
    assert.ok(error.acknowledged <= 1, `acknowledged ${error.acknowledged}`);
    assert.equal(error.wanted, 2);
    assert.ok(events.length >= 1, "shortfall events");
    // Nothing held, nobody queued.
    const info = await inspect(redis, name);
    assert.equal(info.holders.length, 0);
    assert.equal(info.waiters, 0);
    // tryAcquire: the same, without waiting.
    assert.equal(await failing.tryAcquire(), undefined);
    // "warn": the permit is kept, the shortfall reported.
    const warned = await Semaphore.create(redis, unique("warn"), {
      permits: 2,
      durability: { replicas: 2, timeoutMs: 50, onShortfall: "warn" },
    });
    const warnings: LockEvent[] = [];
    warned.addEventListener("shortfall", (e) => warnings.push(e));
    const lease = await warned.acquire(AbortSignal.timeout(2_000));
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0].reason instanceof DurabilityError);
    await lease.release();
    // Bad options: typed errors before any call.
    assert.throws(
      () => new Mutex(redis, "x", { durability: { replicas: 0 } }),
      RangeError,
    );
    assert.throws(
      () =>
        new Mutex(redis, "x", {
          durability: { replicas: 1, onShortfall: "maybe" as "warn" },
        }),
      TypeError,
    );
  },
  { timeoutMs: 60_000 },
);
