/**
 * The hand-off measurement of the A/B comparisons (the cluster and the
 * durability cells): a name held on one of two clients with a waiter
 * queued on the other; each step, once the waiter is in the queue ZSET, the
 * holder releases, the time from its `release()` call to the waiter's
 * `acquire()` resolving is recorded, and the releaser waits in turn. Every
 * hand-off counts the holders of its name (an `Oracle`).
 *
 * @module
 */
import type { Lease, Mutex, RedisClient } from "../../../mod.ts";
import type { Oracle } from "../oracle.ts";
import { untilQueued } from "../redis.ts";
import { sleepUntil, timed, within } from "../timing.ts";
import type { PerSide, Round } from "./sampler.ts";

/** A waiter's `acquire()`, resolved with the time it resolved. */
export type Won = { lease: Lease; at: number };

/** One name: its mutex on each client, the holder's lease, the waiter. */
export interface Pair {
  name: string;
  mutexes: [Mutex, Mutex];
  /** The clients of `mutexes`, in the same order. */
  clients: [RedisClient, RedisClient];
  oracle: Oracle;
  holder: 0 | 1;
  lease: Lease | undefined;
  waiting: Promise<Won> | undefined;
}

/** A pair of `name` on clients `a` and `b`, not held yet. */
export function makePair(
  name: string,
  clients: [RedisClient, RedisClient],
  mutex: (client: RedisClient) => Mutex,
  oracle: Oracle,
): Pair {
  return {
    name,
    mutexes: [mutex(clients[0]), mutex(clients[1])],
    clients,
    oracle,
    holder: 0,
    lease: undefined,
    waiting: undefined,
  };
}

/** What a {@linkcode HandoffRun} needs besides its pairs. */
export interface HandoffSetup {
  /** Polls the queues (ZCARD); not used by the locks. */
  observer: RedisClient;
  /** Idling before the floor's round trip, and again after it. */
  settleMs: number;
  /** The floor's round trip, from the releaser's client. */
  probe(client: RedisClient, pair: Pair): Promise<unknown>;
  /** Names the cell in the error of a waiter that never queues. */
  what: string;
}

/**
 * The hand-offs of one side on `pairs.length` names: each name held on one
 * client with a waiter queued on the other; each `step` hands the next name
 * (in turn) to its waiter, and the releaser queues again.
 */
export class HandoffRun {
  readonly #abort = new AbortController();
  constructor(readonly pairs: readonly Pair[], readonly setup: HandoffSetup) {}

  #wait(pair: Pair, client: 0 | 1): void {
    pair.waiting = pair.mutexes[client].acquire(this.#abort.signal).then(
      (lease) => {
        const at = performance.now();
        pair.oracle.enter();
        return { lease, at };
      },
    );
  }

  /** Every name held on its first client, a waiter queued on the second. */
  async start(): Promise<void> {
    for (const pair of this.pairs) {
      pair.holder = 0;
      pair.lease = await pair.mutexes[0].acquire(AbortSignal.timeout(10_000));
      pair.oracle.enter();
      this.#wait(pair, 1);
    }
  }

  /**
   * Hand-off `i`: the release-to-acquired latency, ms. Its floor goes to
   * `floors`: after a settle, the probe from the holder's client (a round
   * trip to the same server after the same idling as the release); then
   * another settle. Without `floors` (the warm-up), no settles.
   */
  async step(i: number, floors?: number[]): Promise<number> {
    const { observer, settleMs, probe, what } = this.setup;
    const pair = this.pairs[i % this.pairs.length];
    const releaser = pair.holder;
    await untilQueued(observer, pair.name, 10_000, `${what} hand-off`);
    if (floors) {
      await sleepUntil(performance.now() + settleMs);
      floors.push(await timed(() => probe(pair.clients[releaser], pair)));
      await sleepUntil(performance.now() + settleMs);
    }
    pair.oracle.leave();
    const start = performance.now();
    await pair.lease!.release();
    const won = await within(pair.waiting!, 10_000, `hand-off ${pair.name}`);
    pair.oracle.check();
    pair.lease = won.lease;
    pair.holder = releaser === 0 ? 1 : 0;
    this.#wait(pair, releaser);
    return won.at - start;
  }

  /** Waiters stop; holders (and a waiter that won anyway) release. */
  async close(): Promise<void> {
    this.#abort.abort();
    const won = await Promise.allSettled(this.pairs.map((p) => p.waiting));
    await Promise.allSettled(this.pairs.flatMap((pair, k) => {
      const w = won[k];
      const leases = [
        pair.lease,
        w.status === "fulfilled" ? w.value?.lease : undefined,
      ].filter((lease) => lease !== undefined);
      pair.lease = undefined;
      pair.waiting = undefined;
      return leases.map((lease) => {
        pair.oracle.leave();
        return lease.release();
      });
    }));
  }
}

/** The measured part of one round of a hand-off cell. */
export interface HandoffRound<K extends string> {
  samples: PerSide<K>;
  floors: PerSide<K>;
  /** A side stopped at the time limit before `count` hand-offs. */
  capped: boolean;
}

/** How one round of a hand-off cell runs. */
export interface HandoffRoundOptions<K extends string> {
  /** Unmeasured hand-offs first. */
  warmup: number;
  /** Measured hand-offs per side... */
  count: number;
  /** ...within this time. */
  cellMs: number;
  /** After the warm-up, just before the measured hand-offs. */
  beforeMeasured?(): Promise<void>;
  /** Just after the measured hand-offs, before the runs close. */
  afterMeasured?(round: HandoffRound<K>): Promise<void>;
}

/**
 * One round of a hand-off cell, every side interleaved: each side's run
 * starts, warms up, then takes `count` measured hand-offs (continuing the
 * turn of its names where the warm-up left it), and closes.
 */
export async function handoffRound<R extends string, O extends string, S>(
  round: Round<R, O, S>,
  runOf: (side: S) => HandoffRun,
  options: HandoffRoundOptions<R | O>,
): Promise<HandoffRound<R | O>> {
  const { ab } = round;
  const { warmup, count, cellMs } = options;
  const runs = new Map(round.sides.map((s) => [ab.keyOf(s), runOf(s)]));
  const run = (side: S) => runs.get(ab.keyOf(side))!;
  const floors = ab.per<number[]>(() => []);
  try {
    for (const r of runs.values()) await r.start();
    await round.run(warmup, (side, i) => run(side).step(i));
    await options.beforeMeasured?.();
    const samples = await round.run(
      count,
      (side, i) => run(side).step(warmup + i, floors[ab.keyOf(side)]),
      performance.now() + cellMs,
    );
    const capped = ab.required.some((k) => samples[k].length < count);
    const result = { samples, floors, capped };
    await options.afterMeasured?.(result);
    return result;
  } finally {
    await Promise.allSettled([...runs.values()].map((r) => r.close()));
  }
}
