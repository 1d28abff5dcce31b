/**
 * The controlled hand-off rounds of the lock cells: W workers on one lock
 * (a "lane"); the holder releases only once every other worker has entered
 * `acquire()` (and, for ours with blocking, the queue ZSET has W-1
 * members), then `settleMs` more; the time from its `release()` call to the
 * next holder's `acquire()` resolving is one sample. The releaser re-enters
 * `acquire()` only once a waiter has the lock (no barging). Used by the
 * libraries' hand-off, the shared-client cells and the runtimes' children.
 *
 * @module
 */
import { GIVE_UP_MS, type Held, type Subject } from "./contenders.ts";
import { Oracle } from "./oracle.ts";
import { sleep, sleepUntil, within } from "./timing.ts";

/** How long a lane's workers go on. */
export interface LaneControl {
  /** Unmeasured hand-offs first. */
  warmup: number;
  /** Measured hand-offs per lane. */
  rounds: number;
  /** The measured rounds' end: `limitMs` after the first measured one. */
  deadline: () => number;
  settleMs: number;
}

/**
 * The control of lanes that measure `rounds` hand-offs after `warmup`, for
 * at most `limitMs` from their first measured one (shared by every lane
 * that is given it).
 */
export function laneControl(
  warmup: number,
  rounds: number,
  settleMs: number,
  limitMs: number,
): LaneControl {
  let measuredFrom = NaN;
  return {
    warmup,
    rounds,
    settleMs,
    deadline: () => {
      if (Number.isNaN(measuredFrom)) measuredFrom = performance.now();
      return measuredFrom + limitMs;
    },
  };
}

/** One chain of W workers on one lock. */
export class Lane {
  readonly subject: Subject;
  readonly size: number;
  readonly oracle: Oracle;
  readonly abort = new AbortController();
  /** `performance.now()` when each worker entered acquire(); NaN if not. */
  readonly entered: Float64Array;
  waiting = 0;
  /** Hand-offs so far, and the measured ones. */
  handoffs = 0;
  readonly samples: number[] = [];
  toOldest = 0;
  acquisitions = 0;
  stop = false;
  releasedAt = NaN;
  measuring = false;
  oldest = -1;
  /** The worker that last got the lock. */
  holder = -1;
  #changed = Promise.withResolvers<void>();

  /** `limit`: holders allowed (a semaphore's permits, fillers included). */
  constructor(subject: Subject, what: string, limit = 1) {
    this.subject = subject;
    this.size = subject.workers.length;
    this.oracle = new Oracle(limit, what);
    this.entered = new Float64Array(this.size).fill(NaN);
  }

  enter(i: number): void {
    this.entered[i] = performance.now();
    this.waiting++;
    this.#notify();
  }

  leave(i: number): void {
    this.entered[i] = NaN;
    this.waiting--;
    this.#notify();
  }

  #notify(): void {
    const changed = this.#changed;
    this.#changed = Promise.withResolvers<void>();
    changed.resolve();
  }

  /** Until the next enter/leave, or 50 ms; leaves no timer behind. */
  async #nextChange(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#changed.promise,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 50);
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * Until a worker other than `releaser` got the lock (or the lane stops);
   * throws after `GIVE_UP_MS` + 10 s.
   */
  async handedOff(releaser: number): Promise<void> {
    const deadline = performance.now() + GIVE_UP_MS + 10_000;
    while (this.holder === releaser && !this.stop) {
      if (performance.now() > deadline) {
        throw new Error("hand-off: no waiter took the lock");
      }
      await this.#nextChange();
    }
  }

  /** The worker that entered acquire() first, among those waiting. */
  oldestWaiter(): number {
    let oldest = -1;
    for (let i = 0; i < this.size; i++) {
      const at = this.entered[i];
      if (Number.isNaN(at)) continue;
      if (oldest === -1 || at < this.entered[oldest]) oldest = i;
    }
    return oldest;
  }

  /**
   * Until every other worker is in acquire() (and, for ours, in the queue
   * ZSET), then `settleMs` more. Throws after 10 s.
   */
  async settle(settleMs: number): Promise<void> {
    const deadline = performance.now() + 10_000;
    while (this.waiting < this.size - 1) {
      if (this.stop) return;
      if (performance.now() > deadline) {
        throw new Error(
          `hand-off: only ${this.waiting} of ${
            this.size - 1
          } workers waiting after 10 s`,
        );
      }
      await this.#nextChange();
    }
    if (this.subject.queued) {
      for (let polls = 0;; polls++) {
        const queued = await this.subject.queued();
        if (queued >= this.size - 1) break;
        if (performance.now() > deadline) {
          throw new Error(
            `hand-off: queue ZSET has ${queued} of ${
              this.size - 1
            } waiters after 10 s`,
          );
        }
        if (polls > 20) await sleep(0);
      }
    }
    await sleepUntil(performance.now() + settleMs);
  }
}

/** Worker `index` of `lane`: acquires, holds through the settle, hands off. */
export async function laneWorker(
  lane: Lane,
  index: number,
  control: LaneControl,
): Promise<void> {
  const worker = lane.subject.workers[index];
  // Bounded: every iteration is one acquisition, and the lane stops after
  // its rounds or its deadline (each acquisition is at least one settle).
  for (let iteration = 0; iteration < 1_000_000; iteration++) {
    if (lane.stop) return;
    lane.enter(index);
    let held: Held;
    try {
      held = await worker.acquire(lane.abort.signal);
    } catch (error) {
      lane.leave(index);
      if (lane.abort.signal.aborted) return;
      throw error;
    }
    const got = performance.now();
    lane.holder = index;
    lane.leave(index);
    lane.oracle.enter();
    lane.acquisitions++;
    if (!Number.isNaN(lane.releasedAt)) {
      if (lane.measuring) {
        lane.samples.push(got - lane.releasedAt);
        if (index === lane.oldest) lane.toOldest++;
      }
      lane.releasedAt = NaN;
    }
    try {
      if (!lane.stop) await lane.settle(control.settleMs);
    } catch (error) {
      lane.stop = true;
      lane.abort.abort(error);
      lane.oracle.leave();
      await held.release();
      throw error;
    }
    lane.oracle.leave();
    if (!lane.stop) {
      lane.handoffs++;
      lane.measuring = lane.handoffs > control.warmup;
      if (
        lane.samples.length >= control.rounds ||
        (lane.measuring && performance.now() > control.deadline())
      ) {
        lane.stop = true;
      }
    }
    if (lane.stop) {
      // The rest of the chain: ours and redis-semaphore stop waiting when
      // aborted; redlock's waiters take the lock once more and leave.
      lane.abort.abort();
      await held.release();
      return;
    }
    lane.oldest = lane.oldestWaiter();
    lane.releasedAt = performance.now();
    await held.release();
    // Only a waiting worker can take it: the releaser stays out until then
    // (no barging: contention measures that).
    await lane.handedOff(index);
  }
}

/**
 * Runs every worker of `lanes` with `control` until they stop, within
 * `limitMs` (else throws, naming `what`); checks every lane's oracle, then
 * throws the first worker's failure, if any.
 */
export async function runLanes(
  lanes: readonly Lane[],
  control: LaneControl,
  limitMs: number,
  what: string,
): Promise<void> {
  const settled = await within(
    Promise.allSettled(
      lanes.flatMap((lane) =>
        lane.subject.workers.map((_, i) => laneWorker(lane, i, control))
      ),
    ),
    limitMs,
    what,
  );
  for (const lane of lanes) lane.oracle.check();
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) throw failed.reason;
}
