/**
 * Lock benchmark, hand-off breakdown: where the time of one blocking
 * hand-off goes, against the idle floor (an `RPUSH` from one of our clients
 * waking a `BLPOP` blocked on another, after the same idling).
 *
 * Two clients A and B hand a lock back and forth: the holder releases once
 * the waiter is queued (the queue ZSET has it) and `settleMs` more have
 * passed; the releaser then queues in turn. Each client connects through a
 * tracing connector that stamps every `write()` and every chunk of data
 * per connection, so each hand-off splits at four instants:
 *
 * - t0: `release()` is called;
 * - tw: the releaser's main connection is first written to after t0
 *   (`EVALSHA` of RELEASE);
 * - th: the waiter's wake hub connection first gets data after tw (the
 *   `BLMPOP` reply carrying the grant);
 * - t1: the waiter's `acquire()` resolves.
 *
 * The server time of that one RELEASE comes from `INFO commandstats`
 * (`cmdstat_evalsha`) read on an observer before the settle and after the
 * hand-off; a sample whose delta is not exactly one `EVALSHA` (a lease
 * renewal, a waiting statistic landing in the window) is dropped and
 * counted. The floor takes the same four instants and `cmdstat_rpush`.
 *
 * Two variants: a `Mutex` (RELEASE's hand-off fast path) and a
 * `Semaphore(2)` whose other permit a third client holds all along (the
 * general path). Each step runs one hand-off of each variant and one floor,
 * in an order that rotates from step to step.
 *
 * @module
 */
import {
  connect,
  type Connector,
  type Lease,
  Mutex,
  type RedisClient,
  Semaphore,
} from "../mod.ts";
import { defaultConnector } from "../src/transport/mod.ts";
import {
  commandDelta,
  type CommandStat,
  parseCommandStats,
  percentile,
  sleep,
  sleepUntil,
  within,
} from "./lock_stats.ts";
import { deleteRun, Oracle } from "./locks.ts";

/** Matched by `BENCH_LOCKS_ONLY` to keep (or drop) this cell. */
export const BREAKDOWN_ID = "ours-breakdown";

/** How much work the cell does. */
export interface BreakdownBenchOptions {
  /** Idling before each timed release (and each floor's RPUSH). */
  settleMs: number;
  /** Unmeasured steps first (each: one hand-off per variant, one floor). */
  warmup: number;
  /** Measured steps... */
  count: number;
  /** ...within this time. */
  cellMs: number;
  /** Limit of every single wait (a waiter to queue, a hand-off, a BLPOP). */
  waitMs: number;
}

/** About 15-20 s on 2 cores. */
export const DEFAULT_BREAKDOWN_BENCH: BreakdownBenchOptions = {
  settleMs: 5,
  warmup: 50,
  count: 500,
  cellMs: 45_000,
  waitMs: 10_000,
};

/** `BENCH_QUICK=1`: the same, fewer steps. */
export const QUICK_BREAKDOWN_BENCH: BreakdownBenchOptions = {
  ...DEFAULT_BREAKDOWN_BENCH,
  warmup: 10,
  count: 60,
  cellMs: 10_000,
};

/** The parts of one hand-off, in the order they happen. */
export const PARTS = ["before", "redis", "wire", "after", "total"] as const;
/** One of {@linkcode PARTS}. */
export type Part = typeof PARTS[number];

/** p50 and mean of one part, us. */
export interface PartFigures {
  p50: number;
  mean: number;
}

/** One row of the table: a variant, or the floor. */
export interface BreakdownRow {
  label: string;
  /** Measured samples kept. */
  samples: number;
  /** Measured samples dropped (commandstats delta or trace incomplete). */
  dropped: number;
  /**
   * `before`: tw - t0; `redis`: server time (commandstats); `wire`: th - tw
   * minus `redis`; `after`: t1 - th; `total`: t1 - t0. All us.
   */
  parts: Record<Part, PartFigures>;
}

/** Everything {@linkcode benchBreakdown} measured. */
export interface BreakdownBenchResult {
  options: BreakdownBenchOptions;
  mutex: BreakdownRow;
  semaphore: BreakdownRow;
  floor: BreakdownRow;
  /** Measuring stopped at `cellMs` before `count` steps. */
  capped: boolean;
  /** Connections A and B opened (2 each: main, wake hub). */
  connections: number[];
  seconds: number;
}

type Sample = Record<Part, number>;

/** When and on which connection the client wrote or got data. */
interface TraceEvent {
  at: number;
  connection: number;
  read: boolean;
}

/**
 * A connector that stamps each `write()` and each chunk of data with
 * `performance.now()` and the index of its connection (in opening order:
 * 0 is a client's main connection).
 */
class Tracer {
  opened = 0;
  #events: TraceEvent[] = [];
  readonly connector: Connector = async (options, handlers) => {
    const connection = this.opened++;
    const inner = await defaultConnector()(options, {
      onData: (chunk) => {
        this.#events.push({ at: performance.now(), connection, read: true });
        handlers.onData(chunk);
      },
      onClose: (error) => handlers.onClose(error),
    });
    return {
      write: (bytes) => {
        this.#events.push({ at: performance.now(), connection, read: false });
        inner.write(bytes);
      },
      close: () => inner.close(),
      destroy: inner.destroy ? () => inner.destroy!() : undefined,
    };
  };

  /** The connection opened last (a client's wake hub, or blocking one). */
  get last(): number {
    return this.opened - 1;
  }

  reset(): void {
    this.#events = [];
  }

  /** The first write (or data, `read`) on `connection` at or after `from`. */
  first(connection: number, read: boolean, from: number): number {
    const event = this.#events.find((e) =>
      e.connection === connection && e.read === read && e.at >= from
    );
    return event?.at ?? NaN;
  }
}

/** The main connection of a client is the first one it opens. */
const MAIN = 0;

/** What every step uses. */
interface Cell {
  options: BreakdownBenchOptions;
  observer: RedisClient;
  tracers: [Tracer, Tracer];
  clients: [RedisClient, RedisClient];
  /** The floor's BLPOP side, and its tracer. */
  floorClient: RedisClient;
  floorTracer: Tracer;
  floorKey: string;
  abort: AbortController;
}

type Lock = Mutex | Semaphore;
type Won = { lease: Lease; at: number };

/** One name held by A or B, the other queued on it. */
class Pair {
  holder: 0 | 1 = 0;
  lease: Lease | undefined;
  waiting: Promise<Won> | undefined;
  readonly samples: Sample[] = [];
  dropped = 0;
  readonly oracle: Oracle;

  constructor(
    readonly label: string,
    readonly name: string,
    readonly locks: [Lock, Lock],
  ) {
    this.oracle = new Oracle(1, `${label} (A and B)`);
  }

  wait(cell: Cell, side: 0 | 1): void {
    this.waiting = this.locks[side].acquire(cell.abort.signal).then(
      (lease) => {
        const at = performance.now();
        this.oracle.enter();
        return { lease, at };
      },
    );
    // Awaited by the next hand-off (or the close); never left unhandled.
    this.waiting.catch(() => {});
  }

  /** Until the queue ZSET has the waiter. */
  async queued(cell: Cell): Promise<void> {
    const key = `redsync:{${this.name}}:queue`;
    const deadline = performance.now() + cell.options.waitMs;
    for (let polls = 0;; polls++) {
      if (Number(await cell.observer.send("ZCARD", key)) >= 1) return;
      if (performance.now() > deadline || polls > 1_000_000) {
        throw new Error(`breakdown: no waiter queued on ${this.label}`);
      }
      if (polls > 20) await sleep(0);
    }
  }
}

async function commandStats(
  observer: RedisClient,
): Promise<Map<string, CommandStat>> {
  return parseCommandStats(String(await observer.send("INFO", "commandstats")));
}

/**
 * The four instants and the server time as a sample; `undefined` when the
 * trace misses an instant or the window held other calls of `command`.
 */
function sampleOf(
  t: { t0: number; tw: number; th: number; t1: number },
  delta: CommandStat,
): Sample | undefined {
  const { t0, tw, th, t1 } = t;
  if (delta.calls !== 1 || !(t0 <= tw && tw <= th && th <= t1)) {
    return undefined;
  }
  const redis = delta.usec;
  return {
    before: (tw - t0) * 1_000,
    redis,
    wire: (th - tw) * 1_000 - redis,
    after: (t1 - th) * 1_000,
    total: (t1 - t0) * 1_000,
  };
}

/** One timed hand-off of `pair`; the releaser queues again after it. */
async function handoff(cell: Cell, pair: Pair, measured: boolean) {
  const { observer, options, tracers } = cell;
  const releaser = pair.holder;
  const waiter = releaser === 0 ? 1 : 0;
  await pair.queued(cell);
  const before = await commandStats(observer);
  await sleepUntil(performance.now() + options.settleMs);
  for (const tracer of tracers) tracer.reset();
  pair.oracle.leave();
  const t0 = performance.now();
  const released = pair.lease!.release();
  const won = await within(pair.waiting!, options.waitMs, pair.label);
  await within(released, options.waitMs, `${pair.label}: release`);
  const after = await commandStats(observer);
  pair.oracle.check();
  const tw = tracers[releaser].first(MAIN, false, t0);
  const hub = tracers[waiter].last;
  const th = hub === MAIN ? NaN : tracers[waiter].first(hub, true, tw);
  pair.lease = won.lease;
  pair.holder = waiter;
  pair.wait(cell, releaser);
  if (measured) {
    const delta = commandDelta(before, after, ["evalsha"]);
    const sample = sampleOf({ t0, tw, th, t1: won.at }, delta);
    if (sample) pair.samples.push(sample);
    else pair.dropped++;
  }
  // The next idle starts with both sides of the pair quiet.
  await pair.queued(cell);
}

/** The floor: RPUSH from `from` waking the floor client's BLPOP. */
async function floor(
  cell: Cell,
  from: 0 | 1,
  sink: { samples: Sample[]; dropped: number } | undefined,
) {
  const { observer, options, floorClient, floorTracer, floorKey } = cell;
  const popped = floorClient.send("BLPOP", floorKey, options.waitMs / 1_000)
    .then(() => performance.now());
  popped.catch(() => {}); // awaited below; never left unhandled
  const before = await commandStats(observer);
  await sleepUntil(performance.now() + options.settleMs);
  const tracers = [...cell.tracers, floorTracer];
  for (const tracer of tracers) tracer.reset();
  const t0 = performance.now();
  await within(
    cell.clients[from].send("RPUSH", floorKey, "x"),
    options.waitMs,
    "floor: RPUSH",
  );
  const t1 = await within(popped, options.waitMs + 1_000, "floor: BLPOP");
  const after = await commandStats(observer);
  if (!sink) return;
  const tw = cell.tracers[from].first(MAIN, false, t0);
  const th = floorTracer.first(floorTracer.last, true, tw);
  const sample = sampleOf(
    { t0, tw, th, t1 },
    commandDelta(before, after, ["rpush"]),
  );
  if (sample) sink.samples.push(sample);
  else sink.dropped++;
}

function figures(samples: readonly Sample[], part: Part): PartFigures {
  const values = Float64Array.from(samples.map((s) => s[part])).sort();
  let sum = 0;
  for (const v of values) sum += v;
  return {
    p50: percentile(values, 0.5),
    mean: values.length > 0 ? sum / values.length : NaN,
  };
}

function rowOf(
  label: string,
  samples: readonly Sample[],
  dropped: number,
): BreakdownRow {
  const parts = {} as Record<Part, PartFigures>;
  for (const part of PARTS) parts[part] = figures(samples, part);
  return { label, samples: samples.length, dropped, parts };
}

function us(row: BreakdownRow, part: Part): string {
  return row.parts[part].p50.toFixed(0);
}

/**
 * Runs the cell against the Redis at `url`. Deletes every key it wrote
 * (their names contain `lockbench-breakdown-<random>`) and closes every
 * client. Throws a `ViolationError` if A and B ever both held.
 */
export async function benchBreakdown(
  url: string,
  log: (line: string) => void,
  options: BreakdownBenchOptions = DEFAULT_BREAKDOWN_BENCH,
): Promise<BreakdownBenchResult> {
  const started = performance.now();
  const runId = `lockbench-breakdown-${crypto.randomUUID().slice(0, 8)}`;
  const names = { mutex: `${runId}:mutex`, semaphore: `${runId}:sem` };
  const opened: RedisClient[] = [];
  const open = async (connector?: Connector) => {
    const client = await connect({ url, connector });
    opened.push(client);
    return client;
  };
  const abort = new AbortController();
  const pairs: Pair[] = [];
  const leases: Lease[] = [];
  try {
    const observer = await open();
    const tracers: [Tracer, Tracer] = [new Tracer(), new Tracer()];
    const clients: [RedisClient, RedisClient] = [
      await open(tracers[0].connector),
      await open(tracers[1].connector),
    ];
    const floorTracer = new Tracer();
    const cell: Cell = {
      options,
      observer,
      tracers,
      clients,
      floorClient: await open(floorTracer.connector),
      floorTracer,
      floorKey: `${runId}:floor`,
      abort,
    };
    const other = await open();
    const semaphore = (client: RedisClient) =>
      Semaphore.create(client, names.semaphore, { permits: 2 });
    leases.push(
      await (await semaphore(other)).acquire(
        AbortSignal.timeout(options.waitMs),
      ),
    );
    const mutex = new Pair("Mutex", names.mutex, [
      new Mutex(clients[0], names.mutex),
      new Mutex(clients[1], names.mutex),
    ]);
    const sem = new Pair(
      "Semaphore(2), other permit held",
      names.semaphore,
      [await semaphore(clients[0]), await semaphore(clients[1])],
    );
    pairs.push(mutex, sem);
    for (const pair of pairs) {
      pair.lease = await pair.locks[0].acquire(
        AbortSignal.timeout(options.waitMs),
      );
      pair.oracle.enter();
      pair.wait(cell, 1);
      await pair.queued(cell);
    }
    const floors = { samples: [] as Sample[], dropped: 0 };
    const step = async (i: number, measured: boolean) => {
      const order = ["mutex", "sem", "floor"] as const;
      for (let k = 0; k < order.length; k++) {
        const what = order[(i + k) % order.length];
        if (what === "floor") {
          await floor(cell, mutex.holder, measured ? floors : undefined);
        } else await handoff(cell, what === "mutex" ? mutex : sem, measured);
      }
    };
    for (let i = 0; i < options.warmup; i++) await step(i, false);
    const connections = tracers.map((t) => t.opened);
    if (connections.some((n) => n !== 2)) {
      log(
        `breakdown: A and B opened ${
          connections.join(" and ")
        } connections (expected 2 each: main, wake hub)`,
      );
    }
    const deadline = performance.now() + options.cellMs;
    let steps = 0;
    while (steps < options.count && performance.now() < deadline) {
      await step(options.warmup + steps, true);
      steps++;
    }
    const result: BreakdownBenchResult = {
      options,
      mutex: rowOf(mutex.label, mutex.samples, mutex.dropped),
      semaphore: rowOf(sem.label, sem.samples, sem.dropped),
      floor: rowOf(
        `RPUSH -> BLPOP after ${options.settleMs} ms idle (floor)`,
        floors.samples,
        floors.dropped,
      ),
      capped: steps < options.count,
      connections: tracers.map((t) => t.opened),
      seconds: 0,
    };
    for (const row of [result.mutex, result.semaphore, result.floor]) {
      log(
        `breakdown ${row.label}: ${row.samples} samples (${row.dropped} dropped), p50 before send ${
          us(row, "before")
        } us, Redis ${us(row, "redis")} us, wire/wake ${
          us(row, "wire")
        } us, after wake ${us(row, "after")} us, total ${us(row, "total")} us`,
      );
    }
    result.seconds = (performance.now() - started) / 1_000;
    return result;
  } finally {
    abort.abort();
    const won = await Promise.allSettled(pairs.map((p) => p.waiting));
    for (const w of won) {
      if (w.status === "fulfilled" && w.value) leases.push(w.value.lease);
    }
    for (const pair of pairs) if (pair.lease) leases.push(pair.lease);
    await Promise.allSettled(leases.map((lease) => lease.release()));
    try {
      if (opened[0]) await deleteRun(opened[0], runId, Object.values(names));
    } finally {
      await Promise.allSettled(opened.map((client) => client.close()));
    }
  }
}
