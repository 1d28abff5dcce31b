/**
 * The hand-off of the shared-client cells: the controlled rounds of the
 * lock cells (`shared/lanes.ts`), on our `Mutex` and our `Semaphore`, with
 * all W workers on one client, next to the same cells with one client per
 * worker where that is feasible; plus the connections each cell opened,
 * counted with `CLIENT LIST` (the hub's subscriber is a `pubsub` one).
 *
 * @module
 */
import { Mutex, type RedisClient, Semaphore } from "../../../mod.ts";
import {
  type Held,
  OURS_COMMANDS,
  SEMAPHORE_PERMITS,
  type Subject,
} from "../../shared/contenders.ts";
import { msText } from "../../shared/format.ts";
import { Lane, laneControl, runLanes } from "../../shared/lanes.ts";
import {
  commandDelta,
  type CommandStat,
  commandStats,
  countConnections,
  openClients,
  queueKey,
} from "../../shared/redis.ts";
import { percentiles } from "../../shared/stats.ts";
import type { Rig, SharedHandoffResult } from "./types.ts";

type Primitive = Mutex | Semaphore;

/**
 * One cell. On the semaphore (of {@linkcode SEMAPHORE_PERMITS}), a filler
 * holds all permits but one for the whole cell, so that the workers hand
 * one permit around exactly as on the mutex, through the semaphore's
 * scripts; the oracle counts the filler's permits too.
 */
async function handoffCell(
  rig: Rig,
  kind: "mutex" | "semaphore",
  layout: "shared" | "per-worker",
  workers: number,
): Promise<SharedHandoffResult> {
  const { options, observer } = rig;
  const tag = `${rig.runId}-${kind}-${layout}-${workers}`;
  const name = `${rig.runId}:sh:${kind}:${layout}:${workers}`;
  rig.names.add(name);
  const started = performance.now();
  const clients = await openClients(
    rig.url,
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
    const subject: Subject = {
      workers: workerLocks.map((lock) => ({
        acquire: (signal) => lock.acquire(signal),
      })),
      queued: async () => {
        const n = Number(await observer.send("ZCARD", queueKey(name)));
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
    const control = laneControl(
      options.warmup,
      rounds,
      options.settleMs,
      limitMs,
    );
    const start = performance.now();
    await runLanes(
      [lane],
      control,
      limitMs + 60_000 + workers * 20,
      `shared hand-off ${label}`,
    );
    const seconds = (performance.now() - start) / 1_000;
    const delta = first && last
      ? commandDelta(first.stats, last.stats, OURS_COMMANDS)
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

/** Every kind and layout at every W of the options. */
export async function measureHandoff(
  rig: Rig,
  log: (line: string) => void,
): Promise<SharedHandoffResult[]> {
  const results: SharedHandoffResult[] = [];
  for (const kind of ["mutex", "semaphore"] as const) {
    for (const workers of rig.options.workers) {
      const layouts = rig.options.perWorker.includes(workers)
        ? ["per-worker", "shared"] as const
        : ["shared"] as const;
      for (const layout of layouts) {
        const r = await handoffCell(rig, kind, layout, workers);
        results.push(r);
        const l = r.latency;
        log(
          `shared-client hand-off ${kind} ${layout} W=${workers}: ${l.count} rounds in ${
            r.seconds.toFixed(1)
          } s (queued in ${r.queueSeconds.toFixed(1)} s), p50 ${
            msText(l.p50)
          } ms, p90 ${msText(l.p90)} ms, p99 ${msText(l.p99)} ms, to oldest ${
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
