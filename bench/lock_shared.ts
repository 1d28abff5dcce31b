/**
 * Lock benchmark, shared client: every waiter on ONE `RedisClient`, woken
 * through the client's wake hub (one `BLMPOP` connection for all of them).
 * Two measurements:
 *
 * 1. hand-off cells: the controlled rounds of `locks.ts` (the holder
 *    releases once every other worker waits; the time from its `release()`
 *    call to the next holder's `acquire()` resolving), on our `Mutex` and
 *    our `Semaphore`, with all W workers on one client, next to the same
 *    cells with one client per worker where that is feasible; plus the
 *    connections each cell opened, counted with `CLIENT LIST`;
 * 2. a "web server" cell: one client, C request loops doing acquire ->
 *    1 ms of work -> release over K mutex names for a fixed time.
 *
 * Every cell counts the holders inside the critical section; more than the
 * limit throws a `ViolationError`.
 *
 * @module
 */
import { connect, Mutex, type RedisClient, Semaphore } from "../mod.ts";
import {
  type Held,
  SEMAPHORE_PERMITS,
  type Subject,
} from "./lock_contenders.ts";
import {
  commandDelta,
  type CommandStat,
  jain,
  parseCommandStats,
  percentile,
  sleep,
  summarize,
  within,
} from "./lock_stats.ts";
import { deleteRun, Lane, laneWorker, Oracle } from "./locks.ts";

/** How much work the shared-client cells do. */
export interface SharedBenchOptions {
  /** W of the shared-client hand-off cells. */
  workers: number[];
  /** W at which the one-client-per-worker cells run too (for the ratio). */
  perWorker: number[];
  /** The holder waits this long after every other worker is queued. */
  settleMs: number;
  /** Unmeasured hand-offs first. */
  warmup: number;
  /** Measured hand-offs per cell, and their time limit, for W < `largeFrom`. */
  rounds: number;
  cellMs: number;
  /** From this W on, `largeRounds` within `largeCellMs`. */
  largeFrom: number;
  largeRounds: number;
  largeCellMs: number;
  /** `waiterTtlMs` of every lock: heartbeats every third of it. */
  waiterTtlMs: number;
  /** The web-server cell. */
  web: {
    /** Concurrent request loops C. */
    loops: number;
    /** Mutex names K; each request picks one at random. */
    names: number;
    /** Work inside the lock: a timer of this many ms. */
    workMs: number;
    warmupMs: number;
    windowMs: number;
  };
}

/** About 100 s on 2 cores. */
export const DEFAULT_SHARED_BENCH: SharedBenchOptions = {
  workers: [8, 128, 1_024, 10_000],
  perWorker: [8, 128],
  settleMs: 5,
  warmup: 10,
  rounds: 500,
  cellMs: 4_000,
  largeFrom: 10_000,
  largeRounds: 300,
  largeCellMs: 2_500,
  waiterTtlMs: 60_000,
  web: { loops: 1_000, names: 10, workMs: 1, warmupMs: 1_000, windowMs: 5_000 },
};

/** `BENCH_QUICK=1`: the extremes, few rounds, a short web window. */
export const QUICK_SHARED_BENCH: SharedBenchOptions = {
  ...DEFAULT_SHARED_BENCH,
  workers: [8, 10_000],
  perWorker: [8],
  rounds: 50,
  cellMs: 1_000,
  largeRounds: 30,
  largeCellMs: 500,
  web: { ...DEFAULT_SHARED_BENCH.web, warmupMs: 300, windowMs: 1_000 },
};

/** Matched by `BENCH_LOCKS_ONLY` to keep (or drop) these cells. */
export const SHARED_ID = "ours-shared";

/** Ours sends these itself (see `OURS_COMMANDS` in `lock_contenders.ts`). */
const COMMANDS = ["evalsha", "eval", "blmpop", "blpop", "client|unblock"];

/** Latency percentiles of a cell, ms. */
export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** One hand-off cell. */
export interface SharedHandoffResult {
  kind: "mutex" | "semaphore";
  /** One client for all workers, or one per worker. */
  layout: "shared" | "per-worker";
  workers: number;
  latency: Percentiles;
  /** Share of hand-offs that went to the worker waiting longest. */
  toOldest: number;
  /** Connections named after the cell in `CLIENT LIST`, all waiting. */
  connections: number;
  /**
   * Commands ours sent (and their server time, us) per acquisition, in the
   * measured rounds only (commandstats at the settles of some of them).
   */
  commandsPerAcquire: number;
  redisUsPerAcquire: number;
  /** From the start of the cell to W-1 members in the queue ZSET, s. */
  queueSeconds: number;
  /** The time limit ended the cell before its rounds. */
  capped: boolean;
  seconds: number;
}

/** The web-server cell. */
export interface WebResult {
  loops: number;
  names: number;
  workMs: number;
  windowMs: number;
  /** Critical sections per second in the window. */
  perSec: number;
  acquisitions: number;
  /** Acquire waits completed in the window, ms. */
  wait: Percentiles;
  /** Longest wait, including loops still waiting at the window's end. */
  maxWait: number;
  /** Jain's index over the requests per loop. */
  jain: number;
  /** Measured critical section (the 1 ms timer), p50, ms. */
  criticalP50: number;
  /** Connections named after the cell in `CLIENT LIST`, mid-window. */
  connections: number;
  commandsPerAcquire: number;
  redisUsPerAcquire: number;
}

/** Everything {@linkcode benchShared} measured. */
export interface SharedBenchResult {
  options: SharedBenchOptions;
  handoff: SharedHandoffResult[];
  web: WebResult;
  seconds: number;
}

interface Context {
  url: string;
  observer: RedisClient;
  runId: string;
  options: SharedBenchOptions;
  /** Lock names, for cleaning `redsync:contended`. */
  names: Set<string>;
}

function percentiles(samples: readonly number[]): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
  };
}

async function commandStats(
  redis: RedisClient,
): Promise<Map<string, CommandStat>> {
  return parseCommandStats(String(await redis.send("INFO", "commandstats")));
}

/** Connections whose `CLIENT SETNAME` is `name`. */
export async function countConnections(
  redis: RedisClient,
  name: string,
): Promise<number> {
  const list = String(await redis.send("CLIENT", "LIST", "TYPE", "normal"));
  return list.split("\n").filter((line) => line.includes(` name=${name} `))
    .length;
}

/** `count` clients named `name`, opened 16 at a time. */
async function openClients(
  url: string,
  name: string,
  count: number,
): Promise<RedisClient[]> {
  const clients: RedisClient[] = [];
  try {
    while (clients.length < count) {
      const batch = Math.min(16, count - clients.length);
      const opened = await Promise.allSettled(
        Array.from({ length: batch }, () => connect({ url, clientName: name })),
      );
      for (const result of opened) {
        if (result.status === "fulfilled") clients.push(result.value);
      }
      const failed = opened.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
    }
    return clients;
  } catch (error) {
    await Promise.allSettled(clients.map((c) => c.close()));
    throw error;
  }
}

type Primitive = Mutex | Semaphore;

function ms(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  return value >= 10 ? value.toFixed(1) : value.toFixed(3);
}

// ---------------------------------------------------------------------------
// 1. Hand-off, shared client against one client per worker
// ---------------------------------------------------------------------------

/**
 * One cell. On the semaphore (of {@linkcode SEMAPHORE_PERMITS}), a filler
 * holds all permits but one for the whole cell, so that the workers hand
 * one permit around exactly as on the mutex, through the semaphore's
 * scripts; the oracle counts the filler's permits too.
 */
async function handoffCell(
  ctx: Context,
  kind: "mutex" | "semaphore",
  layout: "shared" | "per-worker",
  workers: number,
): Promise<SharedHandoffResult> {
  const { options, observer } = ctx;
  const tag = `${ctx.runId}-${kind}-${layout}-${workers}`;
  const name = `${ctx.runId}:sh:${kind}:${layout}:${workers}`;
  ctx.names.add(name);
  const started = performance.now();
  const clients = await openClients(
    ctx.url,
    tag,
    layout === "shared" ? 1 : workers,
  );
  const lockOptions = { waiterTtlMs: options.waiterTtlMs };
  const clientOf = (i: number) => clients[layout === "shared" ? 0 : i];
  const primitives: Primitive[] = [];
  let filler: Held | undefined;
  try {
    const fill = kind === "semaphore" ? SEMAPHORE_PERMITS - 1 : 0;
    if (kind === "mutex") {
      for (let i = 0; i < workers; i++) {
        primitives.push(new Mutex(clientOf(i), name, lockOptions));
      }
    } else {
      const create = (client: RedisClient) =>
        Semaphore.create(client, name, {
          permits: SEMAPHORE_PERMITS,
          ...lockOptions,
        });
      const holder = await create(clients[0]);
      primitives.push(holder);
      filler = await holder.acquire({ permits: fill });
      for (let from = 0; from < workers; from += 1_000) {
        const batch = Array.from(
          { length: Math.min(1_000, workers - from) },
          (_, j) => create(clientOf(from + j)),
        );
        primitives.push(...await Promise.all(batch));
      }
    }
    const workerLocks = kind === "mutex" ? primitives : primitives.slice(1);
    const large = workers >= options.largeFrom;
    const rounds = large ? options.largeRounds : options.rounds;
    const limitMs = large ? options.largeCellMs : options.cellMs;
    let connections = NaN;
    let queueSeconds = NaN;
    type Snapshot = { stats: Map<string, CommandStat>; acquisitions: number };
    let first: Snapshot | undefined;
    let last: Snapshot | undefined;
    const queueKey = `redsync:{${name}}:queue`;
    const subject: Subject = {
      workers: workerLocks.map((lock) => ({
        acquire: (signal) => lock.acquire(signal),
      })),
      queued: async () => {
        const n = Number(await observer.send("ZCARD", queueKey));
        if (n >= workers - 1) {
          if (Number.isNaN(queueSeconds)) {
            queueSeconds = (performance.now() - started) / 1_000;
          }
          // From the last unmeasured round on (every waiter has waited for
          // a while: every connection it needs is open): the connections
          // once, and commandstats at 1, 2, 4, ... rounds later, so that the
          // commands per acquisition leave out queueing W waiters and
          // aborting them at the end.
          const steady = lane.handoffs - (options.warmup - 1);
          if (steady >= 0 && Number.isNaN(connections)) {
            connections = await countConnections(observer, tag);
          }
          if (steady >= 0 && (steady & (steady - 1)) === 0) {
            const snapshot = {
              stats: await commandStats(observer),
              acquisitions: lane.acquisitions,
            };
            if (steady === 0) first = snapshot;
            else last = snapshot;
          }
        }
        return n;
      },
      close: () => Promise.resolve(),
    };
    const label = `${kind} ${layout} W=${workers}`;
    const lane = new Lane(subject, label, 1 + fill);
    for (let i = 0; i < fill; i++) lane.oracle.enter();
    let measuredFrom = NaN;
    const control = {
      warmup: options.warmup,
      rounds,
      settleMs: options.settleMs,
      deadline: () => {
        if (Number.isNaN(measuredFrom)) measuredFrom = performance.now();
        return measuredFrom + limitMs;
      },
    };
    const start = performance.now();
    const settled = await within(
      Promise.allSettled(
        subject.workers.map((_, i) => laneWorker(lane, i, control)),
      ),
      limitMs + 60_000 + workers * 20,
      `shared hand-off ${label}`,
    );
    const seconds = (performance.now() - start) / 1_000;
    lane.oracle.check();
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    const delta = first && last
      ? commandDelta(first.stats, last.stats, COMMANDS)
      : { calls: NaN, usec: NaN };
    const acquired = first && last
      ? last.acquisitions - first.acquisitions
      : NaN;
    return {
      kind,
      layout,
      workers,
      latency: percentiles(lane.samples),
      toOldest: lane.toOldest / lane.samples.length,
      connections,
      commandsPerAcquire: delta.calls / acquired,
      redisUsPerAcquire: delta.usec / acquired,
      queueSeconds,
      capped: lane.samples.length < rounds,
      seconds,
    };
  } finally {
    await filler?.release().catch(() => {});
    await Promise.allSettled(primitives.map((p) => p[Symbol.asyncDispose]()));
    await Promise.allSettled(clients.map((c) => c.close()));
  }
}

async function measureHandoff(
  ctx: Context,
  log: (line: string) => void,
): Promise<SharedHandoffResult[]> {
  const results: SharedHandoffResult[] = [];
  for (const kind of ["mutex", "semaphore"] as const) {
    for (const workers of ctx.options.workers) {
      const layouts = ctx.options.perWorker.includes(workers)
        ? ["per-worker", "shared"] as const
        : ["shared"] as const;
      for (const layout of layouts) {
        const r = await handoffCell(ctx, kind, layout, workers);
        results.push(r);
        const l = r.latency;
        log(
          `shared-client hand-off ${kind} ${layout} W=${workers}: ${l.count} rounds in ${
            r.seconds.toFixed(1)
          } s (queued in ${r.queueSeconds.toFixed(1)} s), p50 ${
            ms(l.p50)
          } ms, p90 ${ms(l.p90)} ms, p99 ${ms(l.p99)} ms, to oldest ${
            (r.toOldest * 100).toFixed(0)
          }%, ${r.connections} connections, ${
            r.commandsPerAcquire.toFixed(1)
          } commands/acquisition`,
        );
      }
    }
  }
  return results;
}

// ---------------------------------------------------------------------------
// 2. Web server
// ---------------------------------------------------------------------------

async function webCell(ctx: Context): Promise<WebResult> {
  const { loops, names, workMs, warmupMs, windowMs } = ctx.options.web;
  const tag = `${ctx.runId}-web`;
  const [client] = await openClients(ctx.url, tag, 1);
  const mutexes = Array.from({ length: names }, (_, k) => {
    const name = `${ctx.runId}:web:${k}`;
    ctx.names.add(name);
    return new Mutex(client, name);
  });
  const oracles = mutexes.map((m) => new Oracle(1, `web ${m.name}`));
  const abort = new AbortController();
  const entered = new Float64Array(loops).fill(NaN);
  const perLoop = new Array<number>(loops).fill(0);
  const waits: number[] = [];
  const critical: number[] = [];
  let measuring = false;
  let stop = false;

  const loop = async (index: number) => {
    for (let request = 0; request < 10_000_000 && !stop; request++) {
      const k = Math.floor(Math.random() * names);
      const enter = performance.now();
      entered[index] = enter;
      let held: Held;
      try {
        held = await mutexes[k].acquire(abort.signal);
      } catch (error) {
        entered[index] = NaN;
        if (abort.signal.aborted) return;
        throw error;
      }
      const got = performance.now();
      entered[index] = NaN;
      oracles[k].enter();
      const counted = measuring;
      if (counted) {
        perLoop[index]++;
        waits.push(got - enter);
      }
      await sleep(workMs);
      if (counted) critical.push(performance.now() - got);
      oracles[k].leave();
      await held.release();
    }
  };

  try {
    const tasks = Array.from({ length: loops }, (_, i) => loop(i));
    await sleep(warmupMs);
    const before = await commandStats(ctx.observer);
    measuring = true;
    const start = performance.now();
    await sleep(windowMs / 2);
    const connections = await countConnections(ctx.observer, tag);
    await sleep(Math.max(0, start + windowMs - performance.now()));
    measuring = false;
    const end = performance.now();
    const after = await commandStats(ctx.observer);
    stop = true;
    let censored = 0;
    for (const at of entered) {
      if (!Number.isNaN(at)) censored = Math.max(censored, end - at);
    }
    abort.abort();
    const settled = await within(
      Promise.allSettled(tasks),
      60_000,
      "web-server cell",
    );
    for (const oracle of oracles) oracle.check();
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    const acquisitions = waits.length;
    const wait = percentiles(waits);
    const delta = commandDelta(before, after, COMMANDS);
    return {
      loops,
      names,
      workMs,
      windowMs: end - start,
      perSec: acquisitions / ((end - start) / 1_000),
      acquisitions,
      wait,
      maxWait: Math.max(wait.count > 0 ? wait.max : 0, censored),
      jain: jain(perLoop),
      criticalP50: summarize(critical).p50,
      connections,
      commandsPerAcquire: delta.calls / acquisitions,
      redisUsPerAcquire: delta.usec / acquisitions,
    };
  } finally {
    stop = true;
    abort.abort();
    await Promise.allSettled(mutexes.map((m) => m[Symbol.asyncDispose]()));
    await client.close();
  }
}

// ---------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------

/** Deletes every key of this run, and our names from `redsync:contended`. */
function cleanup(ctx: Context): Promise<void> {
  return deleteRun(ctx.observer, ctx.runId, ctx.names);
}

/**
 * Runs the shared-client hand-off cells and the web-server cell against
 * the Redis at `url`. Throws a `ViolationError` when a lock ever had too
 * many holders.
 */
export async function benchShared(
  url: string,
  log: (line: string) => void,
  options: SharedBenchOptions = DEFAULT_SHARED_BENCH,
): Promise<SharedBenchResult> {
  const observer = await connect(url);
  const ctx: Context = {
    url,
    observer,
    runId: `lockbench-${crypto.randomUUID().slice(0, 8)}`,
    options,
    names: new Set(),
  };
  const started = performance.now();
  try {
    const handoff = await measureHandoff(ctx, log);
    const web = await webCell(ctx);
    log(
      `web server: ${web.loops} loops over ${web.names} mutexes, ${
        Math.round(web.perSec)
      } critical sections/s (critical section p50 ${
        ms(web.criticalP50)
      } ms), wait p50 ${ms(web.wait.p50)} ms, p99 ${ms(web.wait.p99)} ms, max ${
        ms(web.maxWait)
      } ms, Jain ${web.jain.toFixed(3)}, ${web.connections} connections, ${
        web.commandsPerAcquire.toFixed(2)
      } commands/acquisition`,
    );
    return {
      options,
      handoff,
      web,
      seconds: (performance.now() - started) / 1_000,
    };
  } finally {
    try {
      await cleanup(ctx);
    } catch (error) {
      log(`shared cleanup failed: ${String(error)}`);
    }
    await observer.close();
  }
}
