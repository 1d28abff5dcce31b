/** What `main.ts` and `worker.ts` share: settings, event lines, oracle keys. */

export const PERMITS = 3;
/** Lease of a permit, ms: how long a dead holder keeps it. */
export const LEASE_MS = 2_000;

/** A JSON line a worker writes on stdout. */
export type WorkerEvent =
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
  };

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
