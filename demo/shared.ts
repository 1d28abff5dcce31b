/**
 * What `main.ts` and `worker.ts` share: settings, event lines, oracle keys,
 * event names.
 */

export const PERMITS = 3;
/** Lease of a permit, ms: how long a dead holder keeps it. */
export const LEASE_MS = 2_000;
/** Workers 1..TAKERS take the baton; they are never the SIGKILL victim. */
export const TAKERS = 2;
/** Every worker passes the baton on after every this many releases. */
export const BATON_EVERY = 3;

/** A JSON line a worker writes on stdout. */
export type WorkerEvent =
  /** Attached, about to wait for the start event. */
  | { t: "ready" }
  /** Through the start event. */
  | { t: "started" }
  /** `baton.set()` resolved with `ok`. */
  | { t: "baton-set"; ok: boolean }
  /** `baton.wait()` resolved: this worker took one signal. */
  | { t: "baton-taken" }
  | { t: "waiting" }
  | { t: "released"; token: number }
  | { t: "lost"; token: number }
  | {
    t: "acquired";
    token: number;
    /** Workers inside their critical section now, this one included. */
    holders: number;
    /** The token is new and above every token granted before the acquire began. */
    fenced: boolean;
    /** Dead holders the parent has written off so far. */
    epoch: number;
    /** Time the acquire waited, from the semaphore's `acquired` LockEvent. */
    waitMs: number;
  };

/** The two events of a run: the start gun and the baton. */
export function eventNames(name: string): Record<"start" | "baton", string> {
  return { start: `${name}-start`, baton: `${name}-baton` };
}

/** The oracle's keys: it checks the semaphore from outside, in Redis. */
export function oracleKeys(name: string): Record<
  "holders" | "maxToken" | "tokens" | "epoch",
  string
> {
  const base = `demo:{${name}}`;
  return {
    holders: `${base}:holders`, // pids inside their critical section
    maxToken: `${base}:max-token`, // largest token granted so far
    tokens: `${base}:tokens`, // every token granted
    epoch: `${base}:epoch`, // dead holders written off
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
    if (signal?.aborted) done();
  });
}
