/**
 * Redis Cluster under change, with contention on one shared client per
 * process: a resharding of the slot of a contended semaphore (MOVED, ASK and
 * TRYAGAIN in flight), a graceful failover (CLUSTER FAILOVER) and a primary
 * killed. Every acquire completes or is rejected by its own signal only,
 * and never more holders than permits among those granted after the change.
 */
import assert from "node:assert/strict";
import { connect, Mutex, type RedisClient, Semaphore } from "../mod.ts";
import { startCluster } from "../harness/cluster.ts";
import { test } from "./_test.ts";
import { unique } from "./_names.ts";
import { delay, until } from "./_until.ts";

const PERMITS = 2;

interface Contention {
  /** performance.now() of each grant. */
  grants: number[];
  /** Most holders at once among those granted after `since`. */
  most(since: number): number;
  errors: unknown[];
  lost: number;
  stop(): Promise<void>;
}

/** `workers` tasks per client acquire, hold 2-10 ms, release, until stop(). */
async function contend(
  clients: RedisClient[],
  name: string,
  workers: number,
): Promise<Contention> {
  const stopped = new AbortController();
  const holding = new Set<number>(); // grant times of current holders
  const peaks: { at: number; grantTimes: number[] }[] = [];
  const result = {
    grants: [] as number[],
    errors: [] as unknown[],
    lost: 0,
  };
  const semaphores = await Promise.all(
    clients.map((client) =>
      Semaphore.create(client, name, { permits: PERMITS, leaseMs: 3_000 })
    ),
  );
  const loops = semaphores.flatMap((semaphore) =>
    Array.from({ length: workers }, async () => {
      while (!stopped.signal.aborted) {
        let lease;
        try {
          lease = await semaphore.acquire(
            AbortSignal.any([stopped.signal, AbortSignal.timeout(20_000)]),
          );
        } catch (error) {
          if (!stopped.signal.aborted) result.errors.push(error);
          return;
        }
        const at = performance.now();
        result.grants.push(at);
        holding.add(at);
        peaks.push({ at, grantTimes: [...holding] });
        await delay(2 + Math.random() * 8);
        holding.delete(at);
        if (lease.signal.aborted) result.lost++;
        await lease.release().catch(() => {}); // a dead connection: retried
      }
    })
  );
  return {
    grants: result.grants,
    errors: result.errors,
    // A getter: a copy of the number would stay 0 whatever happens after.
    get lost() {
      return result.lost;
    },
    most: (since) =>
      Math.max(
        0,
        ...peaks.map((p) => p.grantTimes.filter((t) => t > since).length),
      ),
    stop: async () => {
      stopped.abort();
      await Promise.all(loops);
    },
  };
}

/**
 * One task per client on each of `names` (two contenders per mutex, the
 * names spread over every slot), until stop(): acquire, check nobody else
 * of this process holds it, hold 1-5 ms, release.
 */
function contendMutexes(clients: RedisClient[], names: string[]) {
  const stopped = new AbortController();
  const held = new Set<string>();
  const result = { grants: 0, overlaps: 0, errors: [] as unknown[] };
  const loops = names.flatMap((name) =>
    clients.map(async (client) => {
      const mutex = new Mutex(client, name, { leaseMs: 3_000 });
      while (!stopped.signal.aborted) {
        let lease;
        try {
          lease = await mutex.acquire(
            AbortSignal.any([stopped.signal, AbortSignal.timeout(20_000)]),
          );
        } catch (error) {
          if (!stopped.signal.aborted) result.errors.push(error);
          return;
        }
        if (held.has(name)) result.overlaps++;
        held.add(name);
        result.grants++;
        await delay(1 + Math.random() * 4);
        held.delete(name);
        await lease.release().catch(() => {});
      }
    })
  );
  return {
    result,
    stop: async () => {
      stopped.abort();
      await Promise.all(loops);
    },
  };
}

const grantsAfter = (c: Contention, at: number) =>
  c.grants.filter((t) => t > at).length;

test(
  "cluster: resharding the slot of a contended semaphore (MOVED, ASK, TRYAGAIN in flight)",
  async () => {
    await using cluster = await startCluster();
    const options = { url: cluster.url, commandTimeoutMs: 3_000 };
    await using a = await connect(options);
    await using b = await connect(options);
    const name = unique("reshard");
    const slot = await cluster.keySlot(name); // the keys' hash tag is the name
    const from = await cluster.ownerOf(slot);
    const to = (await cluster.primaries()).find((p) => p.port !== from)!.port;
    const contention = await contend([a, b], name, 6);
    await until(
      "contention on the first owner",
      () => contention.grants.length >= 20,
      20_000,
    );
    const steps: string[] = [];
    await cluster.migrateSlot(slot, to, {
      pauseBetweenSteps: async (step) => {
        steps.push(step);
        await delay(300); // contention goes on with the slot half-moved
      },
    });
    const moved = performance.now();
    assert.equal(await cluster.ownerOf(slot), to);
    await until(
      "grants on the new owner",
      () => grantsAfter(contention, moved) > 10,
      20_000,
    );
    await contention.stop();
    assert.deepEqual(contention.errors, []);
    assert.ok(contention.most(0) <= PERMITS, `${contention.most(0)} holders`);
    assert.ok(
      grantsAfter(contention, moved) > 10,
      `grants on the new owner: ${grantsAfter(contention, moved)}`,
    );
    assert.equal(contention.lost, 0);
    // The redirects really happened (the servers count their errors).
    const redirects: Record<string, number> = {};
    for (const node of cluster.nodes) {
      const stats = await cluster.cli(node.port, "INFO", "errorstats");
      for (
        const [, code, n] of stats.matchAll(/errorstat_(\w+):count=(\d+)/g)
      ) {
        redirects[code] = (redirects[code] ?? 0) + Number(n);
      }
    }
    assert.ok((redirects.MOVED ?? 0) > 0, JSON.stringify(redirects));
    console.log("redirects answered:", JSON.stringify(redirects));
    // The keys live on the new owner only.
    const base = `redsync:{${name}}`;
    assert.equal(await cluster.cli(to, "EXISTS", `${base}:meta`), "1");
    assert.match(await cluster.cli(from, "EXISTS", `${base}:meta`), /MOVED/);
  },
  { timeoutMs: 120_000 },
);

test(
  "cluster: CLUSTER FAILOVER, then the new primary killed, under contention: acquisitions resume",
  async () => {
    await using cluster = await startCluster();
    const options = {
      url: cluster.url,
      commandTimeoutMs: 2_000,
      reconnect: { minDelayMs: 50, maxDelayMs: 300 },
    };
    await using a = await connect(options);
    await using b = await connect(options);
    const name = unique("failover");
    const slot = await cluster.keySlot(name);
    const primary = await cluster.ownerOf(slot);
    // The replica of that primary.
    let replica = 0;
    for (const node of cluster.nodes) {
      if (node.port === primary) continue;
      const role = await cluster.cli(node.port, "ROLE");
      if (role.startsWith("slave") && role.includes(String(primary))) {
        replica = node.port;
      }
    }
    assert.ok(replica, "the primary has a replica");
    const contention = await contend([a, b], name, 6);
    // And 100 mutexes over all the slots, two contenders each.
    const fleet = contendMutexes(
      [a, b],
      Array.from({ length: 100 }, (_, i) => unique(`fleet${i}`)),
    );
    await until(
      "contention on the first primary",
      () => contention.grants.length >= 20 && fleet.result.grants >= 100,
      20_000,
    );

    // Graceful: the replica takes over, the old primary follows it.
    await cluster.failover(replica);
    const switched = performance.now();
    assert.equal(await cluster.ownerOf(slot), replica);
    await until(
      "grants after CLUSTER FAILOVER",
      () => grantsAfter(contention, switched) > 10,
      20_000,
    );

    // Abrupt: the new primary dies; the old one is promoted back.
    await cluster.kill(replica);
    const killed = performance.now();
    await cluster.waitFailoverOf(replica);
    assert.equal(await cluster.ownerOf(slot), primary);
    await until(
      "acquisitions to resume",
      () => grantsAfter(contention, killed) >= 10,
      20_000,
    );
    const resumed = contention.grants.find((t) => t > killed)! - killed;
    const fleetBefore = fleet.result.grants;
    await until(
      "the 100 mutexes to go on",
      () => fleet.result.grants > fleetBefore,
      20_000,
    );
    await Promise.all([contention.stop(), fleet.stop()]);
    assert.deepEqual(contention.errors, []);
    assert.deepEqual(fleet.result.errors, []);
    // Grants lost with the killed primary may leave holders that Redis no
    // longer knows (asynchronous replication); among holders granted after
    // the failover, never more than the permits.
    assert.ok(
      contention.most(killed) <= PERMITS,
      `${contention.most(killed)} holders granted after the kill`,
    );
    console.log(
      `resumed ${
        Math.round(resumed)
      } ms after the kill; 100 mutexes: ${fleet.result.grants} grants, ${fleet.result.overlaps} overlapping (only a kill can cause one: asynchronous replication)`,
    );
  },
  { timeoutMs: 120_000 },
);
