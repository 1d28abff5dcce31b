/**
 * The steps of the hand-off breakdown cell: one timed hand-off between
 * clients A and B on a name, and the two floors after the same idling (an
 * `RPUSH` waking a `BLPOP`; a `PUBLISH` reaching a connection `SUBSCRIBE`d
 * to its channel), each split at its four instants by the tracers.
 *
 * @module
 */
import type { Lease, Mutex, RedisClient, Semaphore } from "../../../mod.ts";
import { Oracle } from "../../shared/oracle.ts";
import {
  commandDelta,
  type CommandStat,
  commandStats,
  untilQueued,
} from "../../shared/redis.ts";
import type { RawSubscriber } from "../../shared/subscriber.ts";
import { sleepUntil, within } from "../../shared/timing.ts";
import type { Tracer } from "./tracer.ts";
import type { BreakdownBenchOptions, Sample } from "./types.ts";

/** The main connection of a client is the first one it opens. */
const MAIN = 0;

/**
 * The forms a script run takes in `INFO commandstats`: a Redis Function
 * once the client has loaded its library, else by digest or whole.
 */
const SCRIPT_RUNS = ["fcall", "evalsha", "eval"];

/** What every step uses. */
export interface Setup {
  options: BreakdownBenchOptions;
  observer: RedisClient;
  tracers: [Tracer, Tracer];
  clients: [RedisClient, RedisClient];
  /** The floor's BLPOP side, and its tracer. */
  floorClient: RedisClient;
  floorTracer: Tracer;
  floorKey: string;
  /**
   * The second floor's subscriber (a bare connection through its own
   * tracer, its connection 0), or undefined where it could not open.
   */
  pubsub: { subscriber: RawSubscriber; tracer: Tracer } | undefined;
  abort: AbortController;
}

/** The variants: a mutex, or a semaphore with its other permit held. */
export type Lock = Mutex | Semaphore;
type Won = { lease: Lease; at: number };

/** One name held by A or B, the other queued on it. */
export class Pair {
  holder: 0 | 1 = 0;
  lease: Lease | undefined;
  waiting: Promise<Won> | undefined;
  readonly samples: Sample[] = [];
  dropped = 0;
  /** Kept samples whose RELEASE ran as `FCALL` (the others: `EVALSHA`). */
  viaFunction = 0;
  readonly oracle: Oracle;

  constructor(
    readonly label: string,
    readonly name: string,
    readonly locks: [Lock, Lock],
  ) {
    this.oracle = new Oracle(1, `${label} (A and B)`);
  }

  wait(setup: Setup, side: 0 | 1): void {
    this.waiting = this.locks[side].acquire(setup.abort.signal).then(
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
  queued(setup: Setup): Promise<void> {
    return untilQueued(
      setup.observer,
      this.name,
      setup.options.waitMs,
      `breakdown (${this.label})`,
    );
  }
}

/**
 * The four instants and the server time as a sample; `undefined` when the
 * trace misses an instant or the window held other calls of the command.
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
export async function handoff(
  setup: Setup,
  pair: Pair,
  measured: boolean,
): Promise<void> {
  const { observer, options, tracers } = setup;
  const releaser = pair.holder;
  const waiter = releaser === 0 ? 1 : 0;
  await pair.queued(setup);
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
  // The waiter's hub: the connection it SUBSCRIBEd on (its second one).
  const hub = tracers[waiter].hub;
  const th = hub <= MAIN ? NaN : tracers[waiter].first(hub, true, tw);
  pair.lease = won.lease;
  pair.holder = waiter;
  pair.wait(setup, releaser);
  if (measured) {
    // Exactly one script run in the window, the RELEASE, as FCALL or
    // EVALSHA (an EVAL would add compiling it): its usec is the Redis part.
    const delta = commandDelta(before, after, SCRIPT_RUNS);
    const whole = commandDelta(before, after, ["eval"]).calls;
    const sample = whole === 0
      ? sampleOf({ t0, tw, th, t1: won.at }, delta)
      : undefined;
    if (sample) {
      pair.samples.push(sample);
      if (commandDelta(before, after, ["fcall"]).calls === 1) {
        pair.viaFunction++;
      }
    } else pair.dropped++;
  }
  // The next idle starts with both sides of the pair quiet.
  await pair.queued(setup);
}

/** The idle floor: RPUSH from `from` waking the floor client's BLPOP. */
export async function floor(
  setup: Setup,
  from: 0 | 1,
  sink: { samples: Sample[]; dropped: number } | undefined,
): Promise<void> {
  const { observer, options, floorClient, floorTracer, floorKey } = setup;
  const popped = floorClient.send("BLPOP", floorKey, options.waitMs / 1_000)
    .then(() => performance.now());
  popped.catch(() => {}); // awaited below; never left unhandled
  const before = await commandStats(observer);
  await sleepUntil(performance.now() + options.settleMs);
  const tracers = [...setup.tracers, floorTracer];
  for (const tracer of tracers) tracer.reset();
  const t0 = performance.now();
  await within(
    setup.clients[from].send("RPUSH", floorKey, "x"),
    options.waitMs,
    "floor: RPUSH",
  );
  const t1 = await within(popped, options.waitMs + 1_000, "floor: BLPOP");
  const after = await commandStats(observer);
  if (!sink) return;
  const tw = setup.tracers[from].first(MAIN, false, t0);
  const th = floorTracer.first(floorTracer.last, true, tw);
  const sample = sampleOf(
    { t0, tw, th, t1 },
    commandDelta(before, after, ["rpush"]),
  );
  if (sample) sink.samples.push(sample);
  else sink.dropped++;
}

/**
 * The wake-ups' floor: PUBLISH from `from` reaching the bare subscriber of
 * `setup.pubsub` (th: its connection first reads after tw; t1: the message
 * parsed whole, in a promise callback).
 */
export async function pubsubFloor(
  setup: Setup,
  from: 0 | 1,
  sink: { samples: Sample[]; dropped: number } | undefined,
): Promise<void> {
  const { observer, options, pubsub } = setup;
  if (!pubsub) return;
  const got = pubsub.subscriber.next();
  got.catch(() => {}); // awaited below; never left unhandled
  const before = await commandStats(observer);
  await sleepUntil(performance.now() + options.settleMs);
  const tracers = [...setup.tracers, pubsub.tracer];
  for (const tracer of tracers) tracer.reset();
  const t0 = performance.now();
  await within(
    setup.clients[from].send("PUBLISH", pubsub.subscriber.channel, "x"),
    options.waitMs,
    "floor: PUBLISH",
  );
  const t1 = await within(got, options.waitMs, "floor: SUBSCRIBE message");
  const after = await commandStats(observer);
  if (!sink) return;
  const tw = setup.tracers[from].first(MAIN, false, t0);
  const th = pubsub.tracer.first(0, true, tw);
  const sample = sampleOf(
    { t0, tw, th, t1 },
    commandDelta(before, after, ["publish"]),
  );
  if (sample) sink.samples.push(sample);
  else sink.dropped++;
}
