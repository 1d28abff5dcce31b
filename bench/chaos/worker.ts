/**
 * A worker process of the chaos run (`run.ts`), run by Deno, Bun or Node.
 *
 *   <url> <semaphore> <mutex> <permits> <leaseMs> <waiterTtlMs> <worker> <stopAt> <strategy>
 *
 * Until `stopAt` (epoch ms) it acquires, at random, the semaphore or the
 * mutex, holds it a random while (noting the lease's local deadline every
 * 10 ms) and releases it. Times are epoch ms with microseconds
 * (`performance.now()` calibrated to the wall clock: `epochOffset()`), so
 * that the logs of every process on this machine can be merged: with `Date.now()`'s whole
 * milliseconds, a grant read within a millisecond of the previous holder's
 * local deadline could look like an overlap (the oracle once reported
 * 4 holders of 3 for 65 us that way). One JSON line per event on stdout:
 *
 *   {"ev":"acq", w, lock, token, id, askedAt, acquiredAt, deadlineAt, holdMs}
 *   {"ev":"dl", w, id, deadlineAt}       the lease's local deadline moved (renewal)
 *   {"ev":"end", w, lock, token, id, acquiredAt, releasedAt, settledAt, lostAt?,
 *    deadlineAt, live, error?}
 *   {"ev":"err", w, op, name, message, at}   an error a call rejected with
 *   {"ev":"done", w, acquisitions}
 *
 * `releasedAt` is when `release()` was called (the holder stops using the
 * permit then), `settledAt` when it settled, `live` whether the lease was
 * still live by its local deadline at the call; `lostAt` when `lease.signal` aborted, as this process saw it
 * (late if the process was frozen: the oracle caps a hold at `deadlineAt`).
 *
 * @module
 */
import process from "node:process";
import { clearTimeout, setTimeout } from "node:timers";
import { connect, type Lease, Mutex, Semaphore } from "../../mod.ts";

/**
 * `performance.now()` to epoch ms, measured here rather than taken from
 * `performance.timeOrigin`: a process's `timeOrigin` is read once at its
 * start and can be off the wall clock by the start's own delay (10-12 ms
 * seen on a loaded machine: the oracle then saw overlaps that never
 * happened, a worker's grants seemingly earlier than its predecessor's
 * release). At the instant `Date.now()` turns to a new millisecond the wall
 * clock is exactly that millisecond: spin to a few such boundaries and keep
 * the one seen in the narrowest window of `performance.now()` (a preemption
 * widens the window of its sample).
 */
function epochOffset(): number {
  let best = { window: Infinity, offset: performance.timeOrigin };
  for (let sample = 0; sample < 5; sample++) {
    const start = Date.now();
    let prev = performance.now();
    // Bounded: Date.now() turns within a millisecond.
    for (let spin = 0; spin < 10_000_000; spin++) {
      const wall = Date.now();
      const after = performance.now();
      if (wall !== start) {
        // It turned between the previous read (before `prev`) and this one
        // (before `after`): the narrower that window, the better.
        const window = after - prev;
        if (window < best.window) {
          best = { window, offset: wall - (prev + after) / 2 };
        }
        break;
      }
      prev = after;
    }
  }
  return best.offset;
}
const offset = epochOffset();

/** Epoch ms with microseconds, one clock for every time logged. */
const now = () => offset + performance.now();

const [url, semName, mutexName, permitsArg, leaseArg, ttlArg, worker, stopArg] =
  process.argv.slice(2);
const strategy = process.argv[10] ?? "blocking";
const permits = Number(permitsArg);
const leaseMs = Number(leaseArg);
const waiterTtlMs = Number(ttlArg);
const stopAt = Number(stopArg);
const ACQUIRE_TIMEOUT_MS = 8_000;
const STARTUP_LIMIT_MS = 30_000;
/** Hard stop: this process never outlives its run by more than this. */
const HARD_EXIT_MS = 25_000;

const emit = (line: Record<string, unknown>) =>
  console.log(JSON.stringify({ ...line, w: worker }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const errorName = (error: unknown) =>
  error instanceof Error ? error.name : typeof error;
const reportError = (op: string, error: unknown) =>
  emit({
    ev: "err",
    op,
    name: errorName(error),
    message: String((error as Error)?.message ?? error).slice(0, 200),
    at: now(),
  });

const hardExit = setTimeout(() => {
  console.error(
    `worker ${worker}: still running ${HARD_EXIT_MS} ms after stopAt`,
  );
  process.exit(3);
}, Math.max(0, stopAt - Date.now()) + HARD_EXIT_MS);
hardExit.unref();

const stop = new AbortController();
const stopTimer = setTimeout(
  () => stop.abort(),
  Math.max(0, stopAt - Date.now()),
);

/** Retries `fn` (connect, create) while Redis is down, for a bounded time. */
async function startup<T>(op: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + STARTUP_LIMIT_MS;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      reportError(op, error);
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

const redis = await startup(
  "connect",
  () => connect({ url, reconnect: { minDelayMs: 20, maxDelayMs: 500 } }),
);
const wait = strategy === "polling"
  ? { strategy: "polling" as const, intervalMs: 10, maxIntervalMs: 200 }
  : { strategy: "blocking" as const };
const options = { leaseMs, waiterTtlMs, wait };
const semaphore = await startup(
  "create",
  () => Semaphore.create(redis, semName, { ...options, permits }),
);
const mutex = new Mutex(redis, mutexName, options);

/** Holds `lease` for `holdMs`, noting its local deadline; returns the end line. */
async function hold(
  lock: string,
  lease: Lease,
  acquiredAt: number,
  holdMs: number,
): Promise<Record<string, unknown>> {
  let lostAt: number | undefined;
  lease.signal.addEventListener("abort", () => lostAt = now(), {
    once: true,
  });
  let deadlineAt = acquiredAt + lease.remainingMs;
  const observe = () => {
    // Not past the deadline: after a freeze, remainingMs is 0 until the
    // lease's own timer fires, and now + 0 is no deadline.
    const left = lease.remainingMs;
    if (left <= 0) return;
    const at = now() + left;
    if (at > deadlineAt + 50) {
      emit({ ev: "dl", id: lease.id, deadlineAt: at });
    }
    if (at > deadlineAt) deadlineAt = at;
  };
  const until = performance.now() + holdMs;
  while (performance.now() < until && !lease.signal.aborted) {
    await sleep(10);
    observe();
  }
  observe();
  const releasedAt = now();
  const end: Record<string, unknown> = {
    ev: "end",
    lock,
    token: lease.token,
    id: lease.id,
    acquiredAt,
    releasedAt,
    deadlineAt,
    live: lease.remainingMs > 0,
  };
  try {
    await lease.release();
  } catch (error) {
    end.error = errorName(error);
    reportError("release", error);
  }
  end.settledAt = now();
  if (lostAt !== undefined) end.lostAt = lostAt;
  return end;
}

let acquisitions = 0;
try {
  while (!stop.signal.aborted) {
    const lock = Math.random() < 0.5 ? "semaphore" : "mutex";
    const primitive = lock === "semaphore" ? semaphore : mutex;
    const askedAt = now();
    let lease: Lease;
    try {
      lease = await primitive.acquire(
        AbortSignal.any([AbortSignal.timeout(ACQUIRE_TIMEOUT_MS), stop.signal]),
      );
    } catch (error) {
      reportError("acquire", error);
      continue;
    }
    const acquiredAt = now();
    const holdMs = lock === "mutex"
      ? 10 + Math.floor(Math.random() * 90)
      : 20 + Math.floor(Math.random() * 280);
    acquisitions++;
    emit({
      ev: "acq",
      lock,
      token: lease.token,
      id: lease.id,
      askedAt,
      acquiredAt,
      deadlineAt: acquiredAt + lease.remainingMs,
      holdMs,
    });
    emit(await hold(lock, lease, acquiredAt, holdMs));
    if (Math.random() < 0.3) await sleep(Math.random() * 20);
  }
} finally {
  clearTimeout(stopTimer);
  emit({ ev: "done", acquisitions });
  await redis.close();
  clearTimeout(hardExit);
}
