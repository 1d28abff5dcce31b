/**
 * The engine behind `Mutex` and `Semaphore` (composition, not inheritance):
 * the keys of one primitive, the acquire loop with both wait strategies,
 * exact abort handling, and lease bookkeeping for dispose.
 *
 * @module
 */
import { internalsOf } from "../client/client.ts";
import type { WakeTicket } from "../client/mailboxes.ts";
import { retryTransient, typed, unavailable } from "../_internal/transient.ts";
import { DisposedError } from "../errors.ts";
import { type LockInfo, readLockInfo } from "./info.ts";
import { endWithClient, type Lease } from "./lease.ts";
import { Holdings } from "./holdings.ts";
import { keysForClient, type LockKeys } from "./keys.ts";
import { Activity, warnIfEvicting } from "./activity.ts";
import { ContendedMarker } from "./contended.ts";
import { type Grant, grantMarginMs, parseGrant } from "./wait.ts";
import { acquirer, type EngineConfig } from "./attempt.ts";
import { reportTimeout } from "./snapshot.ts";
import { type Confirmer, confirmer } from "./durability.ts";
import { abortable, backoff, delay } from "../_internal/async.ts";
import { AbortScope } from "../_internal/abort_scope.ts";

export type { EngineConfig } from "./attempt.ts";

/** Acquire, release and extend for one primitive. */
export class LockEngine {
  readonly name: string;
  readonly #config: EngineConfig;
  readonly #keys: LockKeys;
  readonly #holdings: Holdings;
  /** Aborts the acquires in flight when disposed (one signal each). */
  readonly #disposed = new AbortScope();
  /** Registered with the client while it waits or holds (see `close()`). */
  readonly #activity: Activity;
  readonly #contended: ContendedMarker;
  #evictionChecked = false;

  constructor(config: EngineConfig) {
    this.#config = config;
    this.name = config.name;
    this.#keys = keysForClient(
      config.client,
      config.options.prefix,
      config.name,
    );
    this.#holdings = new Holdings({
      ...config,
      keys: this.#keys,
      onIdle: () => this.#activity.idle(),
    });
    this.#activity = new Activity(
      config.client,
      this,
      () => this.#holdings.leases.size > 0,
    );
    this.#contended = new ContendedMarker(
      config.client,
      config.options.prefix,
      config.name,
      config.options.waiterTtlMs,
    );
  }

  /** Leases of this primitive still held in this process. */
  get leases(): ReadonlySet<Lease> {
    return this.#holdings.leases;
  }

  /** `true` once disposed. */
  get disposed(): boolean {
    return this.#disposed.aborted;
  }

  /**
   * Takes `weight` permits, waiting (mode "wait") or not ("try"). Mode
   * "queue" waits too, and a poller queues at once instead of barging in
   * while nobody queues (for a request of every permit, which arrivals
   * that each find room could keep out forever). Resolves
   * `undefined` only in "try" mode when none is free. On abort or error, no
   * permit is kept and no queue entry is left: the cancel is sent before the
   * promise rejects. Waits survive outages: transient errors (a dropped
   * connection, `LOADING`, ...) are retried until `userSignal` aborts; in
   * "try" mode at most the client's `commandTimeoutMs`, then it rejects
   * with `RedisUnavailableError`. A wait that `userSignal` ends emits
   * `timeout` with a snapshot of the holders when it is listened to or
   * asked for (see `snapshot.ts`).
   * `meta` ("" for none) is stored with the lease (see `AcquireOptions`).
   */
  async acquire(
    weight: number,
    mode: "wait" | "try" | "queue",
    userSignal: AbortSignal | undefined,
    meta = "",
  ): Promise<Lease | undefined> {
    const { client, options } = this.#config;
    // Once close() has begun, nothing new may hold or wait through it.
    internalsOf(client).checkOpen();
    if (this.disposed) throw this.#disposedError();
    userSignal?.throwIfAborted();
    const scoped = this.#disposed.open(userSignal);
    const { signal } = scoped;
    if (!this.#evictionChecked) {
      this.#evictionChecked = true;
      warnIfEvicting(client, this.#config.observer, options.logger);
    }
    // Blocking waiters are woken through the client's hub: their id names
    // it (hub() throws once the client is closing: nothing is left open).
    let ticket: WakeTicket | undefined;
    try {
      ticket = mode !== "try" && options.wait.strategy === "blocking"
        ? internalsOf(client).hub().ticket(this.#keys.wakePrefix)
        : undefined;
    } catch (error) {
      scoped.done();
      throw error;
    }
    this.#activity.begin();
    const id = ticket?.id ?? crypto.randomUUID();
    // tryAcquire() retries transient errors within this bound only: the
    // client's commandTimeoutMs.
    const until = mode === "try"
      ? performance.now() + internalsOf(client).commandTimeoutMs
      : Infinity;
    // Undo whatever reached Redis (a queue entry, a grant in flight) with one
    // RELEASE written at the moment of the abort: it follows every earlier
    // command of this acquire on the same connection, and it is out before
    // the caller can even close the client.
    let undone = false;
    const undo = () => {
      if (undone) return;
      undone = true;
      const { leaseMs, waiterTtlMs } = this.#config.options;
      this.#holdings.releaseLater(
        id,
        performance.now() + Math.max(leaseMs, waiterTtlMs),
      );
    };
    signal.addEventListener("abort", undo, { once: true });
    const observer = this.#config.observer;
    const started = performance.now();
    // With `durability`: a grant counts once the replicas have it.
    const confirm = confirmer<Grant>({
      durability: this.#config.options.durability,
      signal,
      extend: () =>
        this.#retrying(
          signal,
          () => this.#holdings.extendDurably(id, options.leaseMs, signal),
          until,
        ),
      release: () =>
        this.#retrying(signal, () => this.#holdings.release(id), until),
    });
    try {
      const grant = await this.#acquireLoop(
        id,
        weight,
        mode,
        signal,
        ticket,
        confirm,
        meta,
        until,
      );
      // From here to the lease nothing awaits, so no abort can slip in
      // between: either it came before (undone; we throw) or it comes after
      // (the lease is the caller's, and the listener is gone).
      signal.throwIfAborted();
      signal.removeEventListener("abort", undo);
      const now = performance.now();
      const waitMs = now - started;
      if (!grant) {
        observer.metric("wait", waitMs, "unavailable");
        return undefined;
      }
      const lease = this.#holdings.lease(id, grant, weight, now);
      observer.metric("wait", waitMs, "acquired");
      observer.emit("acquired", {
        id,
        token: lease.token,
        permits: weight,
        waitMs,
      });
      return lease;
    } catch (error) {
      undo();
      const waitMs = performance.now() - started;
      observer.metric("wait", waitMs, "aborted");
      if (signal.aborted) {
        // After the undo: with a snapshot of the holders, if one is wanted.
        const reason = signal.reason;
        await reportTimeout(this.#config, userSignal, {
          id,
          permits: weight,
          waitMs,
          reason,
        });
        // The signal ended while too few replicas acknowledged the grants.
        throw confirm.shortfall ?? reason;
      }
      throw unavailable(error, client.closed);
    } finally {
      signal.removeEventListener("abort", undo);
      scoped.done();
      ticket?.close();
      this.#activity.end();
    }
  }

  /**
   * The client closes: pending acquires reject with `reason` (their undo
   * is written at once), and every lease is released.
   */
  async shutdown(reason: Error): Promise<void> {
    this.#disposed.abort(reason);
    // The holders are told through their signal; the release is written now
    // (a release already in flight is left to end the lease, once).
    const ends = [...this.#holdings.leases].map(endWithClient);
    // The client closes its connections next: wait for the answers first
    // (a socket closed with commands still on their way may drop them).
    await Promise.all(ends);
    await this.#holdings.answered();
  }

  async #acquireLoop(
    id: string,
    weight: number,
    mode: "wait" | "try" | "queue",
    signal: AbortSignal,
    ticket: WakeTicket | undefined,
    confirm: Confirmer<Grant>,
    meta: string,
    until: number,
  ): Promise<Grant | undefined> {
    const { options } = this.#config;
    const heartbeatMs = Math.max(10, Math.floor(options.waiterTtlMs / 3));
    // Blocking waiters queue for a hand-off. Pollers barge in while nobody
    // queues (a permit handed to a sleeping poller would sit idle until its
    // next attempt), and queue only once others queue ahead of them, so
    // they never starve behind blocking waiters. "queue" pollers queue.
    const scriptMode = ticket || mode === "queue"
      ? "wait"
      : mode === "wait"
      ? "poll"
      : "try";
    const { wait } = options;
    const shortestMs = wait.strategy === "polling" ? wait.intervalMs : 0;
    const pauses = wait.strategy === "blocking" ? undefined : backoff({
      minMs: wait.intervalMs,
      maxMs: wait.maxIntervalMs,
      factor: wait.factor,
      jitter: wait.jitter,
    });
    // A wait retries transient errors until its signal; tryAcquire()
    // until its bound too, then reports them.
    const attempt = acquirer(
      { ...this.#config, keys: this.#keys, id, weight, meta },
      scriptMode,
      signal,
      (fn) => this.#retrying(signal, fn, until),
    );
    let state = await attempt(true);
    const recheck = () => attempt(false);
    for (let round = 0;; round++) {
      if (state.granted) {
        const usable = await this.#usable(id, state, signal, until);
        const confirmed = usable && await confirm(usable);
        if (confirmed) return confirmed;
        // tryAcquire() does not wait for replicas to catch up.
        if (mode === "try" && confirm.shortfall) return undefined;
        state = await recheck();
        continue;
      }
      if (mode === "try") return undefined;
      if (round === 0) {
        this.#config.observer.emit("waiting", { id, permits: weight });
      }
      this.#contended.mark(state.serverNow);
      // Wake to refresh the heartbeat, or, next in line, when a lease ends.
      const wakeMs = state.wakeMs >= 0
        ? Math.min(heartbeatMs, state.wakeMs + 1)
        : heartbeatMs;
      if (ticket) {
        ticket.listen();
        const message = await ticket.next(wakeMs, signal);
        if (typeof message === "string") {
          // The server's clock read `serverNow` no earlier than `sentAt`,
          // so its lease end maps to a local deadline that is never late.
          const { token, leaseEnd } = parseGrant(message);
          const grant = {
            granted: true as const,
            token,
            leftMs: leaseEnd - state.serverNow,
            sentAt: state.sentAt,
          };
          const usable = await this.#usable(id, grant, signal, until);
          const confirmed = usable && await confirm(usable);
          if (confirmed) return confirmed;
        }
        // TIMEOUT (heartbeat, a lease ends) or REARM (the hub's connection
        // dropped): ACQUIRE re-checks, and consumes a grant made meanwhile.
      } else {
        // Queued and next in line: a grant may wait for this poll, so poll
        // at the shortest interval; otherwise back off.
        const next = state.rank >= 0 && state.rank < this.#config.limit;
        const pauseMs = next ? shortestMs : pauses!.next().value!;
        await delay(Math.min(heartbeatMs, pauseMs), signal);
      }
      state = await recheck();
    }
  }

  /**
   * The grant as it may be handed out: as it is when at least the margin
   * is left of it now; else renewed first (`EXTEND` never revives an ended
   * lease); `undefined` when it had ended (the caller waits on).
   */
  async #usable(
    id: string,
    grant: Grant,
    signal: AbortSignal,
    until: number,
  ): Promise<Grant | undefined> {
    const { leaseMs, renew } = this.#config.options;
    const left = grant.sentAt + grant.leftMs - performance.now();
    // A hand-off grant may be shorter than the lease (it lasts no longer
    // than the waiter's heartbeat): without background renewal, take the
    // whole lease now.
    const short = !renew && grant.leftMs < leaseMs * 0.9;
    if (left >= grantMarginMs(leaseMs) && !short) return grant;
    return await this.#renewGrant(id, grant, signal, until);
  }

  /** Extends a grant that arrived with too little left; `undefined`: ended. */
  async #renewGrant(
    id: string,
    grant: Grant,
    signal: AbortSignal,
    until: number,
  ): Promise<Grant | undefined> {
    const sentAt = performance.now();
    const leftMs = await this.#retrying(
      signal,
      // An abort rejects at once; the undo releases what EXTEND kept.
      () =>
        abortable(
          this.#holdings.extend(id, this.#config.options.leaseMs),
          signal,
        ),
      until,
    );
    return leftMs > 0 ? { ...grant, leftMs, sentAt } : undefined;
  }

  /**
   * Runs `fn` until it succeeds, retrying transient errors with backoff
   * until `signal` aborts or `until` (then `RedisUnavailableError`).
   */
  #retrying<T>(
    signal: AbortSignal,
    fn: () => Promise<T>,
    until = Infinity,
  ): Promise<T> {
    return retryTransient(fn, {
      signal,
      until,
      closed: () => this.#config.client.closed,
      onRetry: (error) => this.#config.observer.waitRetry(error),
    });
  }

  #disposedError(): DisposedError {
    return new DisposedError(
      `Cannot use '${this.name}' as it was disposed`,
    );
  }

  /** The primitive's state in Redis now. */
  info(): Promise<LockInfo> {
    const { client, options } = this.#config;
    return typed(
      readLockInfo(client, this.name, options.prefix),
      () => client.closed,
    );
  }

  /** Rejects pending acquires with `DisposedError` and releases every lease. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.#disposed.abort(this.#disposedError());
    await this.#holdings.releaseAll();
  }
}
