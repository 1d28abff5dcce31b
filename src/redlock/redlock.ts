/**
 * Redlock: one lock over N ≥ 3 independent Redis servers (separate
 * primaries, not replicas), held while a majority of them holds it, so it
 * survives the loss of any minority of them.
 *
 * @module
 */
import { AbortScope } from "../_internal/abort_scope.ts";
import type { RedisClient } from "../client/client.ts";
import type { Closable } from "../client/client_options.ts";
import { DisposedError } from "../errors.ts";
import { delay } from "../_internal/async.ts";
import { checkName } from "../locks/keys.ts";
import { type AcquireOptions, toAcquireOptions } from "../locks/options.ts";
import {
  type Exclusive,
  runExclusive,
  type RunOptions,
  type RunResult,
} from "../locks/run_exclusive.ts";
import { Activity } from "../locks/activity.ts";
import { LockEventTarget, Observer } from "../observe.ts";
import { type NodeOutcome, QuorumError, withCause } from "./errors.ts";
import {
  createRedlockLease,
  type LeaseHooks,
  type RedlockLease,
} from "./lease.ts";
import { hopeless, RedlockNodes } from "./nodes.ts";
import {
  checkClients,
  type RedlockOptions,
  resolveRedlockOptions,
} from "./options.ts";

/** The function `Redlock.runExclusive` runs: its signal aborts if the lease is lost. */
export type RedlockExclusive<T> = Exclusive<T, RedlockLease>;

/**
 * A lock over N ≥ 3 independent Redis servers, after the Redlock algorithm
 * (https://redis.io/docs/latest/develop/use/patterns/distributed-locks/).
 * Each attempt (a round) asks every server at once, each within
 * `nodeTimeoutMs`, to take the name for `leaseMs` (a server whose client is
 * not connected is not asked: "unreachable", unless a `lazy` client's
 * first connection is under way); the lock is held when a
 * majority (`⌊N/2⌋ + 1`) took it with validity left (`leaseMs` minus the
 * time taken minus the drift allowance). Otherwise it is released on every
 * server it was sent to (those that did not answer too: the command may
 * have landed; not those that answered "taken") and tried again after a
 * random delay, with a new id. Held leases are renewed on every server
 * while a majority answers.
 *
 * Its leases and acquires are registered with its clients while they last:
 * closing any of the clients (`close()`, which releases by default)
 * releases its leases on every server and ends it as `[Symbol.asyncDispose]`
 * does, its pending and later acquires rejecting with the client's reason.
 *
 * On each server the lock is a `Mutex` of the same name and prefix (same
 * keys and scripts), so `inspect(client, name)` shows it there, and each
 * server hands out its own fencing tokens (see {@linkcode RedlockLease}).
 * A `Mutex` used on one of these servers with the same name would contend
 * with the Redlock there: use distinct names.
 *
 * N may be even; it then tolerates no more failures than N - 1 servers do.
 * Unlike `Mutex`, waiting is by retrying (no hand-off, no FIFO order).
 *
 * Like `Mutex`, it is an `EventTarget` of the same events (`waiting`,
 * `acquired`, `timeout`, `released`, `renewed`, `lost`; `token` is the
 * lease's largest token), and takes a `logger` and `metrics`.
 *
 * @example
 * ```ts
 * import { connect, Redlock } from "@redsync/core";
 * // `lazy`: no error while a minority of the servers is down at startup.
 * await using a = await connect({ url: "redis://10.0.0.1:6379", lazy: true });
 * await using b = await connect({ url: "redis://10.0.0.2:6379", lazy: true });
 * await using c = await connect({ url: "redis://10.0.0.3:6379", lazy: true });
 * const lock = new Redlock([a, b, c], "nightly-report", { leaseMs: 10_000 });
 * {
 *   await using lease = await lock.acquire(AbortSignal.timeout(5_000));
 *   await fetch("https://example.com/report", { signal: lease.signal });
 * } // released on every server here
 * const maybe = await lock.tryAcquire(); // undefined when held elsewhere
 * await maybe?.release();
 * ```
 */
export class Redlock extends LockEventTarget implements AsyncDisposable {
  /** The name of the lock, the same on every server. */
  readonly name: string;
  /** The servers' addresses (`client.url`, no credentials), in the clients' order. */
  readonly urls: readonly string[];
  /** How many servers make a majority: `⌊N/2⌋ + 1`. */
  readonly quorum: number;

  readonly #nodes: RedlockNodes;
  readonly #observer: Observer;
  readonly #leases = new Set<RedlockLease>();
  /** Aborts the acquires in flight when disposed (one signal each). */
  readonly #disposed = new AbortScope();
  /** The releases of disposal (or of a client's `close()`), once begun. */
  #ending: Promise<void> | undefined;
  /** Registered with each client while an acquire runs or a lease is held. */
  readonly #activities: readonly Activity[];
  #lastOutcome: readonly NodeOutcome[] | undefined;

  /**
   * Describes the lock; nothing is sent until `acquire()`. Throws
   * `TypeError`/`RangeError` for fewer than 3 clients, a client given
   * twice (or two clients of one server), a cluster client, a closed
   * client, a bad name or bad options.
   */
  constructor(
    clients: readonly RedisClient[],
    name: string,
    options?: RedlockOptions,
  ) {
    super();
    const checked = checkClients(clients);
    this.name = checkName("create a Redlock", name);
    const resolved = resolveRedlockOptions(options);
    this.#observer = new Observer(
      this,
      this.name,
      resolved.logger,
      resolved.metrics,
    );
    this.#nodes = new RedlockNodes(checked, this.name, resolved);
    this.urls = checked.map((client) => client.url);
    this.quorum = this.#nodes.quorum;
    // A client's close() ends this Redlock first: its leases are released.
    const closable: Closable = { shutdown: (reason) => this.#end(reason) };
    this.#activities = checked.map((client) =>
      new Activity(client, closable, () => this.#leases.size > 0)
    );
  }

  /**
   * Each server's outcome in the last round of this object that finished
   * (every server answered or ran out of time; not one cut short by an
   * abort), of any `acquire()` or `tryAcquire()`; `undefined` before the
   * first.
   */
  get lastOutcome(): readonly NodeOutcome[] | undefined {
    return this.#lastOutcome;
  }

  /**
   * Waits for the lock and resolves with its lease, retrying until a
   * majority is had. When `signal` aborts, rejects with `signal.reason`,
   * whose `cause` becomes the last failed round's `QuorumError` (each
   * server's outcome) when a round failed and the reason is an object with
   * no `cause` of its own; nothing is kept on any server. Rejects at once
   * with a `QuorumError` when errors no retry can cure (an error reply, a
   * closed client) leave no majority possible.
   *
   * @example
   * ```ts
   * import { connect, QuorumError, Redlock } from "@redsync/core";
   * const clients = await Promise.all([6379, 6380, 6381].map((p) => connect({ port: p })));
   * const lock = new Redlock(clients, "migrations");
   * try {
   *   await using lease = await lock.acquire({ signal: AbortSignal.timeout(60_000) });
   * } catch (error) {
   *   const cause = (error as Error).cause;
   *   if (cause instanceof QuorumError) console.log(cause.outcomes);
   *   throw error;
   * }
   * ```
   */
  async acquire(signal?: AbortSignal | AcquireOptions): Promise<RedlockLease> {
    const { signal: abort } = toAcquireOptions("acquire", signal);
    return (await this.#acquire("wait", abort))!;
  }

  /**
   * One round: resolves with the lease when a majority took it, and
   * `undefined` when not because it is held elsewhere (some server
   * answered "taken"). Rejects with a `QuorumError` when no majority could
   * be had and no server reported it taken (an outage, not contention).
   * `lastOutcome` tells what each server answered.
   *
   * @example Skip if another instance runs it
   * ```ts
   * import { connect, Redlock } from "@redsync/core";
   * const clients = await Promise.all([6379, 6380, 6381].map((p) => connect({ port: p })));
   * await using lease = await new Redlock(clients, "cron:cleanup").tryAcquire();
   * if (!lease) console.log("another instance is on it");
   * ```
   */
  tryAcquire(): Promise<RedlockLease | undefined> {
    return this.#acquire("try", undefined);
  }

  async #acquire(
    mode: "wait" | "try",
    userSignal: AbortSignal | undefined,
  ): Promise<RedlockLease | undefined> {
    if (this.#disposed.aborted) throw this.#disposed.reason;
    if (userSignal?.aborted) throw userSignal.reason;
    for (const activity of this.#activities) activity.checkNotClosing();
    const scoped = this.#disposed.open(userSignal);
    const { signal } = scoped;
    const nodes = this.#nodes;
    const { retryDelayMs, retryJitter } = nodes.options;
    for (const activity of this.#activities) activity.begin();
    // The id of the round in flight and the servers its ACQUIRE was sent
    // to: an abort releases it on each of them at once, written after that
    // round's ACQUIRE on each connection. After a failed round, not where
    // it answered "taken" (nothing was stored there).
    let id: string | undefined;
    let sent = new Set<number>();
    const undo = (outcomes?: readonly NodeOutcome[]) => {
      if (id === undefined) return;
      const where = outcomes
        ? [...sent].filter((i) => outcomes[i].outcome !== "taken")
        : sent;
      nodes.releaseAt(id, where);
      id = undefined;
    };
    const onAbort = () => undo();
    signal.addEventListener("abort", onAbort, { once: true });
    const observer = this.#observer;
    const started = performance.now();
    let failure: QuorumError | undefined;
    try {
      for (let rounds = 0;; rounds++) {
        // A fresh id per round: a late release of an earlier round can
        // never remove what a later one took.
        const roundId = id = crypto.randomUUID();
        const roundSent = sent = new Set();
        const round = await nodes.round(
          nodes.acquireOp(roundId),
          signal,
          undefined,
          roundSent,
        );
        // No await from here to the lease: an abort came before (undone,
        // we throw) or comes after (the lease is the caller's).
        signal.throwIfAborted();
        const outcomes = round.outcomes;
        this.#lastOutcome = outcomes;
        if (round.ok) {
          signal.removeEventListener("abort", onAbort);
          const lease = createRedlockLease(
            nodes,
            roundId,
            round,
            roundSent,
            this.#hooks,
          );
          this.#leases.add(lease);
          const waitMs = performance.now() - started;
          observer.metric("wait", waitMs, "acquired");
          observer.emit("acquired", {
            id: lease.id,
            token: lease.token,
            waitMs,
          });
          return lease;
        }
        undo(outcomes);
        const acquired = outcomes.filter((o) => o.outcome === "acquired");
        failure = new QuorumError(this.name, this.quorum, outcomes, {
          note: acquired.length >= this.quorum
            ? "the validity ran out during the round"
            : undefined,
        });
        if (mode === "try") {
          if (outcomes.some((o) => o.outcome === "taken")) {
            observer.metric("wait", performance.now() - started, "unavailable");
            return undefined;
          }
          throw failure;
        }
        if (hopeless(outcomes, this.quorum, false)) throw failure;
        if (rounds === 0) observer.emit("waiting", {});
        await delay(retryDelayMs * (1 - retryJitter * Math.random()), signal);
      }
    } catch (error) {
      undo();
      const waitMs = performance.now() - started;
      observer.metric("wait", waitMs, "aborted");
      if (signal.aborted) {
        observer.emit("timeout", { waitMs, reason: signal.reason });
        throw withCause(signal.reason, failure);
      }
      throw error;
    } finally {
      signal.removeEventListener("abort", onAbort);
      scoped.done();
      for (const activity of this.#activities) activity.end();
    }
  }

  /** What this lock hears of its leases: events, metrics, `onLost`. */
  readonly #hooks: LeaseHooks = {
    settled: (lease, lost, heldMs) => {
      this.#leases.delete(lease);
      for (const activity of this.#activities) activity.idle();
      this.#observer.ended(
        lease.token,
        heldMs,
        lost,
        this.#nodes.options.onLost,
        lease.id,
      );
    },
    renewed: (lease) =>
      this.#observer.emit("renewed", { id: lease.id, token: lease.token }),
    renewalFailed: (_lease, failure) => this.#observer.renewalFailed(failure),
  };

  /**
   * Acquires, runs `fn` with a signal that aborts if the lease is lost (or
   * the given signal aborts), and always releases. Takes a signal, or
   * options: `wait` is `"forever"` (default), a number of ms (then
   * `LockTimeoutError`), or `"skip"`: resolve `{ ran: false }` at once
   * when the lock is held elsewhere.
   *
   * @example
   * ```ts
   * import { connect, Redlock } from "@redsync/core";
   * const clients = await Promise.all([6379, 6380, 6381].map((p) => connect({ port: p })));
   * const result = await new Redlock(clients, "nightly").runExclusive(
   *   async (signal) => {
   *     await fetch("https://example.com/job", { method: "POST", signal });
   *     return "done";
   *   },
   *   { wait: "skip" },
   * );
   * if (!result.ran) console.log("another instance is running it");
   * ```
   */
  runExclusive<T>(
    fn: RedlockExclusive<T>,
    options: AbortSignal | RunOptions = {},
  ): Promise<RunResult<T>> {
    return runExclusive(
      this.name,
      (signal) => this.acquire(signal),
      () => this.tryAcquire(),
      fn,
      options instanceof AbortSignal
        ? { signal: options }
        : toAcquireOptions<RunOptions>("run exclusively", options),
    );
  }

  /**
   * Releases the leases this object handed out and still holds, and makes
   * pending `acquire()`s reject with `DisposedError`; later calls reject
   * too. The clients stay open (they are the caller's).
   *
   * @example
   * ```ts
   * import { connect, Redlock } from "@redsync/core";
   * const clients = await Promise.all([6379, 6380, 6381].map((p) => connect({ port: p })));
   * await using lock = new Redlock(clients, "job");
   * const lease = await lock.acquire();
   * // leaving the scope releases `lease` if still held
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#end(
      new DisposedError(`Cannot use '${this.name}' as it was disposed`),
    );
  }

  /**
   * Ends this Redlock with `reason` (disposal, or a client's `close()`):
   * pending and later acquires reject with it, and the leases it holds are
   * released; resolves once their answers are in (at most `nodeTimeoutMs`).
   */
  #end(reason: Error): Promise<void> {
    if (!this.#disposed.aborted) this.#disposed.abort(reason);
    return this.#ending ??= Promise.allSettled(
      [...this.#leases].map((lease) => lease.release()),
    ).then(() => {});
  }
}
