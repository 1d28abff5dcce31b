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
  type LockEvent,
  Mutex,
  Semaphore,
} from "../mod.ts";
import { inspect } from "../src/admin.ts";
import { startProxy } from "../harness/proxy.ts";
import { waitForReplicas } from "../harness/replication.ts";
import { startRedis } from "../harness/server.ts";
import { keysOf } from "../src/locks/keys.ts";
import { EXTEND } from "../src/locks/scripts.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { until } from "./_until.ts";

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
    // Generous times: a loaded machine must not turn the happy path into
    // shortfalls or a lost lease (WAIT answers as soon as acknowledged).
    const options = {
      leaseMs: 3_000,
      durability: { replicas: 1, timeoutMs: 2_000 },
    };
    const shortfalls: LockEvent[] = [];
    const mutexA = new Mutex(a, name, options);
    mutexA.addEventListener("shortfall", (e) => shortfalls.push(e));
    let renewals = 0;
    mutexA.addEventListener("renewed", () => renewals++);
    const lease = await mutexA.acquire(AbortSignal.timeout(10_000));
    // The replica has the grant already.
    await using onReplica = await connect(servers.replica.url);
    const holders = await onReplica.send(
      "ZCARD",
      `redsync:{${name}}:holders`,
    );
    assert.equal(holders, 1);
    // A waiter on another client: handed the lock, confirmed likewise.
    const mutexB = new Mutex(b, name, options);
    const waiting = mutexB.acquire(AbortSignal.timeout(30_000));
    waiting.catch(() => {}); // awaited below; a failure before is reported
    await until(
      "the waiter queued",
      async () => (await inspect(a, name)).waiters === 1,
    );
    // Renewals go through WAIT too: the lease lives on.
    await until("two renewals", () => renewals >= 2, 20_000);
    assert.equal(lease.signal.aborted, false, "renewed with durability");
    await lease.release();
    const second = await waiting;
    assert.ok(second.token > lease.token);
    await second.release();
    assert.deepEqual(shortfalls, []);
    // Each grant and renewal waited for the replica: WAIT ran that often
    // (two grants, and each renewal).
    const stats = String(await a.send("INFO", "commandstats"));
    const waits = Number(/cmdstat_wait:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    assert.ok(waits >= 2 + renewals, `WAIT calls: ${waits}`);
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

test(
  "durability: a confirmation is always a write: two EXTENDs back to back each advance master_repl_offset",
  async () => {
    // WAIT counts the client's own last write in the replication stream;
    // since Redis 7.0 that offset moves only when a command changed
    // something. An EXTEND in the same server millisecond as the previous
    // write of that lease (a hand-off grant, another EXTEND) sets the same
    // score and finds both TTLs long enough: it must still be a write.
    await using servers = await replicated();
    await using redis = await connect(servers.primary.url);
    const name = unique("confirm-write");
    const leaseMs = 30_000;
    const mutex = new Mutex(redis, name, {
      leaseMs,
      renew: false,
      durability: { replicas: 1, timeoutMs: 2_000 },
    });
    await using lease = await mutex.acquire(AbortSignal.timeout(5_000));
    const keys = keysOf("redsync", name).script;
    const [id] = await redis.send("ZRANGE", keys[0], 0, 0) as string[];
    assert.ok(id, "the holder's id");
    const offset = (info: unknown) =>
      Number(/master_repl_offset:(\d+)/.exec(String(info))?.[1] ?? NaN);
    const scripts = new Set<string>();
    const extend = () =>
      EXTEND.command(keys, [id, leaseMs, 1, "redsync:wake:"], scripts);
    await redis.command(extend()); // loads the script: EVALSHA from here on
    let sameMs = 0;
    for (let round = 0; round < 50; round++) {
      // One write, run by the server back to back.
      const [before, first, scoreA, middle, second, scoreB, after] =
        await Promise.all([
          redis.send("INFO", "replication"),
          redis.command(extend()),
          redis.send("ZSCORE", keys[0], id),
          redis.send("INFO", "replication"),
          redis.command(extend()),
          redis.send("ZSCORE", keys[0], id),
          redis.send("INFO", "replication"),
        ]);
      assert.equal(first, leaseMs);
      assert.equal(second, leaseMs);
      if (Number(scoreA) === Number(scoreB)) sameMs++;
      assert.ok(
        offset(middle) > offset(before),
        `round ${round}: the first EXTEND was no write (${offset(before)})`,
      );
      assert.ok(
        offset(after) > offset(middle),
        `round ${round}: the second EXTEND was no write (same ms: ${
          Number(scoreA) === Number(scoreB)
        }, ${offset(middle)})`,
      );
    }
    // The case that matters ran at least once: the second EXTEND in the
    // same server millisecond as the first (it changed nothing else).
    assert.ok(sameMs > 0, "no two EXTENDs ran in the same millisecond");
    assert.equal(lease.signal.aborted, false);
  },
  { timeoutMs: 60_000 },
);

test(
  "durability: while replication is frozen no durable acquire resolves (hand-offs to blocking waiters and pollers, direct grants)",
  async () => {
    const primary = await startRedis({
      args: ["--repl-diskless-sync-delay", "0"],
    });
    await using _primary = primary;
    await using proxy = await startProxy(primary.port);
    const proxyPort = Number(new URL(proxy.url).port);
    await using _replica = await startRedis({
      args: ["--replicaof", "127.0.0.1", String(proxyPort)],
    });
    await waitForReplicas(primary.port);
    await using holderClient = await connect(primary.url);
    proxy.freezeReplication();
    // Short leases, the default waiterTtlMs: a hand-off gets the whole
    // lease, so the grantee's EXTEND may change nothing else.
    const durable = (wait: "blocking" | "polling") => ({
      leaseMs: 500,
      wait,
      durability: { replicas: 1, timeoutMs: 50 },
    });
    let shortfalls = 0;
    // Never resolved: a shortfall, or (a loaded machine) no confirmation
    // at all before the signal ended.
    const check = (label: string, outcome: unknown) => {
      if (outcome instanceof DurabilityError) shortfalls++;
      else {
        assert.ok(
          outcome instanceof Error && outcome.name === "TimeoutError",
          `${label} while replication is frozen: ${String(outcome)}`,
        );
      }
    };
    const attempt = (mutex: Mutex) =>
      mutex.acquire(AbortSignal.timeout(2_000)).then(
        (lease) => lease.release().then(() => "resolved"),
        (error) => error,
      );
    const round = async (wait: "blocking" | "polling") => {
      const name = unique(`frozen-${wait}`);
      // A client per waiter: its main connection runs its WAITs only.
      await using waiterClient = await connect(primary.url);
      const holder = await new Mutex(holderClient, name, { leaseMs: 500 })
        .acquire(AbortSignal.timeout(5_000));
      const waiting = attempt(new Mutex(waiterClient, name, durable(wait)));
      // Bounded: until the waiter is queued (a poller does not queue).
      for (let i = 0; i < 100 && wait === "blocking"; i++) {
        if ((await inspect(holderClient, name)).waiters > 0) break;
        await delay(10);
      }
      await holder.release(); // hands off to the waiter
      check(`a ${wait} durable acquire`, await waiting);
    };
    for (let repetition = 0; repetition < 3; repetition++) {
      await Promise.all([
        round("blocking"),
        round("blocking"),
        round("polling"),
        round("polling"),
      ]);
    }
    // A direct grant, nobody else involved: the same.
    await using directClient = await connect(primary.url);
    check(
      "a direct durable acquire",
      await attempt(
        new Mutex(directClient, unique("frozen-direct"), durable("blocking")),
      ),
    );
    assert.ok(shortfalls > 0, "no confirmation came back short");
  },
  { timeoutMs: 60_000 },
);

test(
  "durability: SCRIPT FLUSH and a restart do not stop durable acquires or renewals (EVAL fallback)",
  async () => {
    // No replica: every WAIT falls short, "warn" keeps the grant.
    await using server = await startRedis();
    await using redis = await connect(server.url);
    const name = unique("flushed");
    // Renewed every ~500 ms: a loaded machine's late timers do not lose it.
    const options = {
      leaseMs: 1_500,
      durability: {
        replicas: 1,
        onShortfall: "warn" as const,
        timeoutMs: 1,
      },
    };
    const mutex = new Mutex(redis, name, options);
    const first = await mutex.acquire(AbortSignal.timeout(5_000));
    await first.release();
    await redis.send("SCRIPT", "FLUSH"); // as after a failover
    const second = await mutex.acquire(AbortSignal.timeout(5_000));
    // A held lease: its next renewal meets the flushed cache too.
    const lost: LockEvent[] = [];
    mutex.addEventListener("lost", (e) => lost.push(e));
    await redis.send("SCRIPT", "FLUSH");
    // Bounded: until the lease renewed twice after the flush.
    let renewed = 0;
    const onRenewed = () => renewed++;
    mutex.addEventListener("renewed", onRenewed);
    await until("two renewals after SCRIPT FLUSH", () => renewed >= 2, 20_000);
    mutex.removeEventListener("renewed", onRenewed);
    assert.equal(second.signal.aborted, false, "the lease survived");
    assert.deepEqual(lost, []);
    await second.release();
    // A restart (no persistence): the new server has no scripts either.
    await server.restart();
    const third = await mutex.acquire(AbortSignal.timeout(10_000));
    await third.release();
  },
  { timeoutMs: 60_000 },
);

test(
  "durability: one waiter's abort during WAIT does not fail another's WAIT on the same connection",
  async () => {
    // No replica: every WAIT blocks for its timeout. A's WAIT is first on
    // the client's main connection, B's behind it; B's abort unblocks what
    // blocks there (CLIENT UNBLOCK names a connection, not a command), so
    // A's WAIT is answered UNBLOCKED: A must ask again, not fail with it.
    await using server = await startRedis();
    await using redis = await connect(server.url);
    await using admin = await connect(server.url);
    const options = {
      durability: { replicas: 1, timeoutMs: 1_500, onShortfall: "warn" },
    } as const;
    // One WAIT first, so that the connection's id is known (an abort then
    // unblocks at once instead of after the WAITs ahead of its CLIENT ID).
    const warm = new Mutex(redis, unique("warm"), {
      durability: { replicas: 1, timeoutMs: 1, onShortfall: "warn" },
    });
    await (await warm.acquire(AbortSignal.timeout(5_000))).release();
    const a = new Mutex(redis, unique("wait-a"), options);
    const b = new Mutex(redis, unique("wait-b"), options);
    const shortfalls: LockEvent[] = [];
    a.addEventListener("shortfall", (e) => shortfalls.push(e));
    const first = a.acquire(AbortSignal.timeout(20_000));
    first.catch(() => {});
    const cancel = new AbortController();
    const second = b.acquire(cancel.signal).catch((e) => e);
    // Both WAITs written (each right behind its grant): A's blocked, B's
    // queued behind it.
    const held = async (mutex: Mutex) =>
      (await inspect(admin, mutex.name)).holders.length === 1;
    const blocked = async () =>
      /blocked_clients:1/.test(String(await admin.send("INFO", "clients")));
    for (let i = 0; i < 2_000; i++) {
      if (await held(a) && await held(b) && await blocked()) break;
      await delay(5);
    }
    assert.ok(await held(b), "B's grant (and so its WAIT) was written");
    assert.ok(await blocked(), "A's WAIT is blocked");
    cancel.abort(new Error("B gives up"));
    assert.equal((await second).message, "B gives up");
    const lease = await first; // UNBLOCKED before the fix
    assert.equal(shortfalls.length, 1, "A's own WAIT timed out: a shortfall");
    await lease.release();
  },
  { timeoutMs: 60_000 },
);
