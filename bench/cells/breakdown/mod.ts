/**
 * The hand-off breakdown cell: where the time of one blocking hand-off
 * goes, against the idle floor (an `RPUSH` from one of our clients waking a
 * `BLPOP` blocked on another, after the same idling) and against the floor
 * of the wake-ups' own mechanism (a `PUBLISH` from one of our clients
 * reaching a bare connection `SUBSCRIBE`d to its channel, after the same
 * idling).
 *
 * Two clients A and B hand a lock back and forth: the holder releases once
 * the waiter is queued (the queue ZSET has it) and `settleMs` more have
 * passed; the releaser then queues in turn. Each client connects through a
 * tracing connector (`tracer.ts`) that stamps every `write()` and every
 * chunk of data per connection, so each hand-off splits at four instants:
 *
 * - t0: `release()` is called;
 * - tw: the releaser's main connection is first written to after t0
 *   (`FCALL` of RELEASE, or `EVALSHA` before its library is loaded);
 * - th: the waiter's wake hub connection (the one it `SUBSCRIBE`d on, its
 *   second) first gets data after tw: the wake-up that RELEASE published,
 *   a message pushed on that subscriber connection;
 * - t1: the waiter's `acquire()` resolves.
 *
 * The server time of that one RELEASE comes from `INFO commandstats`
 * (`cmdstat_fcall` + `cmdstat_evalsha`) read on an observer before the
 * settle and after the hand-off; a sample whose window does not hold
 * exactly one such run and no `EVAL` (a lease renewal, a waiting statistic
 * landing in the window) is dropped and counted. The floors take the same
 * four instants and `cmdstat_rpush`, or `cmdstat_publish`.
 *
 * Two variants: a `Mutex` (RELEASE's hand-off fast path) and a
 * `Semaphore(2)` whose other permit a third client holds all along (the
 * general path). Each step runs one hand-off of each variant and each floor
 * once, in an order that rotates from step to step (`steps.ts`).
 *
 * @module
 */
import {
  connect,
  type Lease,
  Mutex,
  type RedisClient,
  Semaphore,
} from "../../../mod.ts";
import type { Connector } from "../../../src/transport/mod.ts";
import { errorText } from "../../shared/format.ts";
import { deleteRun } from "../../shared/redis.ts";
import { percentile } from "../../shared/stats.ts";
import { RawSubscriber } from "../../shared/subscriber.ts";
import type { Cell, CellContext } from "../types.ts";
import { breakdownMarkdown, breakdownTargetLines } from "./report.ts";
import { floor, handoff, Pair, pubsubFloor, type Setup } from "./steps.ts";
import { Tracer } from "./tracer.ts";
import {
  type BreakdownBenchOptions,
  type BreakdownBenchResult,
  type BreakdownRow,
  DEFAULT_BREAKDOWN_BENCH,
  type Part,
  type PartFigures,
  PARTS,
  QUICK_BREAKDOWN_BENCH,
  type Sample,
} from "./types.ts";

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
  viaFunction?: number,
): BreakdownRow {
  const parts = {} as Record<Part, PartFigures>;
  for (const part of PARTS) parts[part] = figures(samples, part);
  return { label, samples: samples.length, dropped, viaFunction, parts };
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
  { url, log, options }: CellContext<BreakdownBenchOptions>,
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
  let subscriber: RawSubscriber | undefined;
  let pubsubSkipped: string | undefined;
  try {
    const observer = await open();
    const tracers: [Tracer, Tracer] = [new Tracer(), new Tracer()];
    const clients: [RedisClient, RedisClient] = [
      await open(tracers[0].connector),
      await open(tracers[1].connector),
    ];
    const floorTracer = new Tracer();
    const pubsubTracer = new Tracer();
    try {
      subscriber = await RawSubscriber.open(
        url,
        `${runId}:channel`,
        pubsubTracer.connector,
      );
    } catch (error) {
      pubsubSkipped = errorText(error);
      log(`breakdown: PUBLISH -> SUBSCRIBE floor skipped: ${pubsubSkipped}`);
    }
    const setup: Setup = {
      options,
      observer,
      tracers,
      clients,
      floorClient: await open(floorTracer.connector),
      floorTracer,
      floorKey: `${runId}:floor`,
      pubsub: subscriber && { subscriber, tracer: pubsubTracer },
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
      pair.wait(setup, 1);
      await pair.queued(setup);
    }
    const floors = { samples: [] as Sample[], dropped: 0 };
    const published = { samples: [] as Sample[], dropped: 0 };
    const step = async (i: number, measured: boolean) => {
      const order = ["mutex", "sem", "floor", "pubsub"] as const;
      for (let k = 0; k < order.length; k++) {
        const what = order[(i + k) % order.length];
        if (what === "floor") {
          await floor(setup, mutex.holder, measured ? floors : undefined);
        } else if (what === "pubsub") {
          await pubsubFloor(
            setup,
            mutex.holder,
            measured ? published : undefined,
          );
        } else await handoff(setup, what === "mutex" ? mutex : sem, measured);
      }
    };
    for (let i = 0; i < options.warmup; i++) await step(i, false);
    const connections = tracers.map((t) => t.opened);
    const hubs = tracers.map((t) => t.hub);
    if (connections.some((n) => n !== 2) || hubs.some((h) => h !== 1)) {
      log(
        `breakdown: A and B opened ${
          connections.join(" and ")
        } connections, their hubs subscribed on connection ${
          hubs.join(" and ")
        } (expected 2 each: main, then the wake hub's subscriber)`,
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
      mutex: rowOf(
        mutex.label,
        mutex.samples,
        mutex.dropped,
        mutex.viaFunction,
      ),
      semaphore: rowOf(sem.label, sem.samples, sem.dropped, sem.viaFunction),
      floor: rowOf(
        `RPUSH -> BLPOP after ${options.settleMs} ms idle (floor)`,
        floors.samples,
        floors.dropped,
      ),
      pubsubFloor: subscriber
        ? rowOf(
          `PUBLISH -> SUBSCRIBE after ${options.settleMs} ms idle (wake-up floor)`,
          published.samples,
          published.dropped,
        )
        : undefined,
      pubsubSkipped,
      capped: steps < options.count,
      connections: tracers.map((t) => t.opened),
      seconds: 0,
    };
    const rows = [result.mutex, result.semaphore, result.floor];
    if (result.pubsubFloor) rows.push(result.pubsubFloor);
    for (const row of rows) {
      log(
        `breakdown ${row.label}: ${row.samples} samples (${row.dropped} dropped${
          row.viaFunction === undefined
            ? ""
            : `; RELEASE as FCALL in ${row.viaFunction}`
        }), p50 before send ${us(row, "before")} us, Redis ${
          us(row, "redis")
        } us, wire/wake ${us(row, "wire")} us, after wake ${
          us(row, "after")
        } us, total ${us(row, "total")} us`,
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
    subscriber?.close();
    try {
      if (opened[0]) await deleteRun(opened[0], runId, Object.values(names));
    } finally {
      await Promise.allSettled(opened.map((client) => client.close()));
    }
  }
}

/** The cell. */
export const breakdownCell: Cell<BreakdownBenchOptions, BreakdownBenchResult> =
  {
    id: "ours-breakdown",
    section: "locks",
    about:
      "where one blocking hand-off's time goes, against an RPUSH waking a BLPOP and a PUBLISH reaching a SUBSCRIBE",
    options: { full: DEFAULT_BREAKDOWN_BENCH, quick: QUICK_BREAKDOWN_BENCH },
    run: benchBreakdown,
    render: (result) => ({
      targets: breakdownTargetLines(result),
      markdown: breakdownMarkdown(result),
    }),
  };
