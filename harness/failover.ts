/**
 * The measure of replica-acknowledged grants: workers contend for a
 * Semaphore through Sentinel while replication to the replica is silently
 * stopped and then the primary is killed, so every write made after the
 * freeze is lost in the failover. A grant lost that way lets the new primary
 * admit another holder while the first still believes it holds: an
 * over-admission, counted here from the holders' own view (leases granted
 * and neither released nor lost). Used by `tests/failover_test.ts` and
 * `bench/failover/main.ts`.
 *
 * {@linkcode runClusterFailover} is the same measure on a Redis Cluster
 * shard (`tests/cluster_durability_test.ts`, `bench/failover/main.ts --cluster`):
 * the primary that owns the semaphore's slot is announced at a TCP proxy's
 * address (`startCluster({ proxyPrimaries: true })`), so its replica
 * replicates through the proxy, whose `freezeReplication()` silently stops
 * that shard's replication (the cluster bus is not proxied: the nodes go on
 * seeing the primary alive); then the primary is SIGKILLed and the cluster
 * promotes the replica.
 *
 * @module
 */
import {
  connect,
  type DurabilityOptions,
  type Lease,
  Semaphore,
} from "../mod.ts";
import { startCluster } from "./cluster.ts";
import { startSentinels } from "./sentinel.ts";

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * Grants resolved within this long after the freeze are not counted as
 * lost: their write (and, with durability, its acknowledgement) may have
 * crossed the link just before it froze.
 */
const FREEZE_MARGIN_MS = 50;
/** How often the event loop's lateness is sampled (see `LoopLag`). */
const LAG_TICK_MS = 5;

/**
 * The event loop's lateness since a moment: a grant resolved late because
 * this process was starved (a loaded machine) may have been acknowledged
 * before the freeze, so the margin grows by the lateness seen since.
 */
class LoopLag {
  #timer: ReturnType<typeof setInterval>;
  #last = performance.now();
  #since = Infinity;
  #worst = 0;
  constructor() {
    this.#timer = setInterval(() => {
      const now = performance.now();
      if (now >= this.#since) {
        this.#worst = Math.max(this.#worst, now - this.#last - LAG_TICK_MS);
      }
      this.#last = now;
    }, LAG_TICK_MS);
  }
  /** Starts counting lateness from now. */
  start(): void {
    this.#since = performance.now();
  }
  /**
   * The worst lateness seen since `start()`, in ms, counting a stall still
   * under way at `now` (its tick may not have run yet).
   */
  worst(now: number): number {
    if (now < this.#since) return 0;
    return Math.max(this.#worst, now - this.#last - LAG_TICK_MS);
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

/** One run's settings. */
export interface FailoverRunOptions {
  durability?: DurabilityOptions;
  /** Permits of the semaphore. @default {4} */
  permits?: number;
  /** Worker tasks (over two clients). @default {12} */
  workers?: number;
  /** How long each holder holds, ms (a range). @default {[1000, 6000]} */
  holdMs?: [number, number];
  /** Contention before the freeze, ms. @default {2000} */
  warmupMs?: number;
  /** Replication frozen this long before the kill, ms. @default {2500} */
  frozenMs?: number;
  /** Observation after the failover, ms. @default {4000} */
  afterMs?: number;
  /** Lease of the semaphore, ms. @default {3000} */
  leaseMs?: number;
  /** Receives a line per grant, loss and phase (debugging). */
  log?: (line: string) => void;
}

/** What one run saw. */
export interface FailoverRunResult {
  /** Grants counted by the workers. */
  grants: number;
  /**
   * Grants counted between the freeze (plus 50 ms) and the kill: their
   * write never reached the replica that became the primary, so these
   * holders held a permit the new primary never knew of.
   */
  grantsLost: number;
  /** Grants made while more holders believed they held than permits. */
  overAdmissions: number;
  /** Most holders believing at once. */
  mostBelievers: number;
  /** Leases lost (their signal aborted). */
  lost: number;
  /** Shortfall events (durability). */
  shortfalls: number;
  /** Ms from the kill to the first grant after it. */
  resumedMs: number;
  /** Errors other than the workers' own stop. */
  errors: unknown[];
  /**
   * Cluster only: ms from the kill to the end of the failover (every live
   * node agrees on the promoted replica as the slot's owner).
   */
  failoverMs?: number;
  /**
   * Cluster only: ms from the kill to the old primary, restarted empty
   * after the failover, being a synced replica of the promoted one again.
   */
  rejoinedMs?: number;
}

/** What the measure needs of a topology. */
interface Scene {
  /** For connect(). */
  url: string;
  /** The semaphore's name (its slot decides the shard, on a cluster). */
  name: string;
  /** Silently stops the replication of the semaphore's primary. */
  freeze(): void;
  /** SIGKILLs that primary. */
  kill(): Promise<void>;
  /** Started right after the kill: brings a replica back for the new primary. */
  recover(): Promise<void>;
}

/** Runs the scenario once on a fresh Sentinel topology. */
export async function runFailover(
  options: FailoverRunOptions = {},
): Promise<FailoverRunResult> {
  await using topology = await startSentinels("mymaster", {
    replicationProxy: true,
  });
  return await measure(options, {
    url: topology.url,
    name: `failover:${crypto.randomUUID()}`,
    freeze: () => topology.replication!.freezeReplication(),
    kill: () => topology.primary.kill(),
    // The old primary comes back empty: the sentinels make it a replica of
    // the new one, whose grants then have a replica to acknowledge them.
    recover: () => delay(3_000).then(() => topology.primary.restart()),
  });
}

/**
 * Runs the scenario once on a fresh Redis Cluster (3 primaries, 3 replicas,
 * `cluster-node-timeout` 1000, `harness/cluster.ts`), on the shard that owns
 * the semaphore's slot: its replication is frozen at its primary's proxy,
 * the primary is killed, the cluster promotes its replica (about 2.4 s);
 * once every node agrees, the old primary is restarted empty with its node
 * config file, and rejoins as the promoted one's replica.
 */
export async function runClusterFailover(
  options: FailoverRunOptions = {},
): Promise<FailoverRunResult> {
  await using cluster = await startCluster({ proxyPrimaries: true });
  const name = `failover:${crypto.randomUUID()}`;
  // The semaphore's keys are `redsync:{name}:...`: the slot of the name.
  const primary = await cluster.ownerOf(await cluster.keySlot(name));
  const proxy = cluster.proxyOf(primary);
  if (proxy === undefined) throw new Error(`primary ${primary} not proxied`);
  let killedAt = NaN;
  const phases: Pick<FailoverRunResult, "failoverMs" | "rejoinedMs"> = {};
  const result = await measure(options, {
    url: cluster.url,
    name,
    freeze: () => proxy.freezeReplication(),
    kill: async () => {
      await cluster.kill(primary);
      killedAt = performance.now();
    },
    recover: async () => {
      // Not before the failover: back too early, it would be the empty
      // primary of its slots again.
      await cluster.waitFailoverOf(primary);
      phases.failoverMs = performance.now() - killedAt;
      await cluster.restart(primary);
      phases.rejoinedMs = performance.now() - killedAt;
    },
  });
  return { ...result, ...phases };
}

/** The scenario, on `scene`. */
async function measure(
  options: FailoverRunOptions,
  scene: Scene,
): Promise<FailoverRunResult> {
  const {
    durability,
    permits = 4,
    workers = 12,
    holdMs = [1_000, 6_000],
    warmupMs = 2_000,
    frozenMs = 2_500,
    afterMs = 4_000,
    leaseMs = 3_000,
    log,
  } = options;
  const t0 = performance.now();
  const at = () => Math.round(performance.now() - t0);
  const clientOptions = {
    url: scene.url,
    commandTimeoutMs: 1_000,
    reconnect: { minDelayMs: 50, maxDelayMs: 300 },
  };
  await using a = await connect(clientOptions);
  await using b = await connect(clientOptions);
  const name = scene.name;
  const semaphoreOptions = {
    permits,
    leaseMs,
    durability: durability ? { timeoutMs: 100, ...durability } : undefined,
  };
  const semaphores = await Promise.all(
    [a, b].map((client) => Semaphore.create(client, name, semaphoreOptions)),
  );
  const result: FailoverRunResult = {
    grants: 0,
    grantsLost: 0,
    overAdmissions: 0,
    mostBelievers: 0,
    lost: 0,
    shortfalls: 0,
    resumedMs: NaN,
    errors: [],
  };
  for (const semaphore of semaphores) {
    semaphore.addEventListener("shortfall", () => result.shortfalls++);
  }
  const believers = new Set<Lease>();
  let killedAt = Infinity;
  let frozenAt = Infinity;
  const lag = new LoopLag();
  const stop = new AbortController();
  const loops = Array.from({ length: workers }, async (_, i) => {
    const semaphore = semaphores[i % 2];
    while (!stop.signal.aborted) {
      let lease: Lease;
      try {
        lease = await semaphore.acquire(
          AbortSignal.any([stop.signal, AbortSignal.timeout(30_000)]),
        );
      } catch (error) {
        if (!stop.signal.aborted) result.errors.push(error);
        return;
      }
      const now = performance.now();
      result.grants++;
      // Past the freeze by a margin: an acquire that resolves right after
      // it may have had its replica's acknowledgement just before it.
      const margin = FREEZE_MARGIN_MS + lag.worst(now);
      if (now > frozenAt + margin && now < killedAt) {
        result.grantsLost++;
      }
      if (now > killedAt && Number.isNaN(result.resumedMs)) {
        result.resumedMs = now - killedAt;
      }
      believers.add(lease);
      log?.(`${at()} grant #${lease.token} believers ${believers.size}`);
      if (believers.size > permits) result.overAdmissions++;
      result.mostBelievers = Math.max(result.mostBelievers, believers.size);
      const hold = holdMs[0] + Math.random() * (holdMs[1] - holdMs[0]);
      // Held until the hold time ends, the lease is lost, or the run stops.
      const ended = AbortSignal.any([lease.signal, stop.signal]);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, hold);
        ended.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
      believers.delete(lease);
      log?.(
        `${at()} end #${lease.token} ${
          lease.signal.aborted ? "LOST" : "release"
        }`,
      );
      if (lease.signal.aborted) result.lost++;
      else await lease.release().catch(() => {});
    }
  });
  try {
    await delay(warmupMs);
    scene.freeze();
    frozenAt = performance.now();
    lag.start();
    log?.(`${at()} freeze`);
    await delay(frozenMs);
    await scene.kill();
    killedAt = performance.now();
    log?.(`${at()} kill`);
    const back = scene.recover();
    back.then(() => log?.(`${at()} replica back`), () => {});
    const deadline = killedAt + 20_000;
    while (Number.isNaN(result.resumedMs) && performance.now() < deadline) {
      await delay(50);
    }
    await back;
    await delay(afterMs);
  } finally {
    // Also when a step failed: no worker outlives the run.
    stop.abort();
    await Promise.all(loops);
    lag.stop();
  }
  return result;
}
