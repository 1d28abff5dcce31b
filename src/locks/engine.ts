/**
 * The engine behind `Mutex` and `Semaphore` (composition, not inheritance):
 * the keys of one primitive, the acquire loop with both wait strategies,
 * exact abort handling, and lease bookkeeping for dispose.
 *
 * @module
 */
import type { RedisClient } from "../client/client.ts";
import {
  DisposedError,
  type LockLostError,
  SemaphoreMismatchError,
} from "../errors.ts";
import { inspect, type LockInfo } from "../inspect.ts";
import { Lease, type LeaseBackend } from "./lease.ts";
import type { ResolvedLockOptions } from "./options.ts";
import { contendedKey, keysOf, type LockKeys } from "./keys.ts";
import { ACQUIRE, CONTENDED, EXTEND, RELEASE } from "./scripts.ts";
import { delay } from "../_internal/async.ts";
import { guard, type Observer } from "../observe.ts";

/** What an engine is built from. */
export interface PermitsConfig {
  client: RedisClient;
  name: string;
  /** Permit count (1 for a mutex). */
  limit: number;
  /** Semaphores keep their count in Redis (`meta`); a mutex does not. */
  keepMeta: boolean;
  /** TTL of `meta` when idle, ms. */
  idleTtlMs: number;
  options: ResolvedLockOptions;
  /** Where events, logs and metrics go. */
  observer: Observer;
}

interface Granted {
  granted: true;
  token: number;
  leftMs: number;
}
interface Waiting {
  granted: false;
  /** Ms until the first holder's lease ends, or -1. */
  wakeMs: number;
  /** The server's clock (ms) when it answered. */
  serverNow: number;
}

/** A grant popped from a waiter's list. */
interface Grant {
  token: number;
  /** Lease end by the server's clock (ms). */
  leaseEnd: number;
}

/** Acquire, release and extend for one primitive. */
export class Permits implements LeaseBackend {
  readonly name: string;
  readonly #config: PermitsConfig;
  readonly #keys: LockKeys;
  readonly #leases = new Set<Lease>();
  readonly #disposed = new AbortController();
  /** `performance.now()` until which `p:contended` needs no refresh. */
  #contendedUntil = 0;

  constructor(config: PermitsConfig) {
    this.#config = config;
    this.name = config.name;
    this.#keys = keysOf(config.options.prefix, config.name);
  }

  /** Leases of this primitive still held in this process. */
  get leases(): ReadonlySet<Lease> {
    return this.#leases;
  }

  /** @internal LeaseBackend: the client is closed. */
  get closed(): boolean {
    return this.#config.client.closed;
  }

  /** `true` once disposed. */
  get disposed(): boolean {
    return this.#disposed.signal.aborted;
  }

  /**
   * Takes `weight` permits, waiting (mode "wait") or not ("try"). Resolves
   * `undefined` only in "try" mode when none is free. On abort or error, no
   * permit is kept and no queue entry is left: the cancel is sent before the
   * promise rejects.
   */
  async acquire(
    weight: number,
    mode: "wait" | "try",
    userSignal: AbortSignal | undefined,
  ): Promise<Lease | undefined> {
    if (this.disposed) throw this.#disposedError();
    userSignal?.throwIfAborted();
    const signal = userSignal
      ? AbortSignal.any([userSignal, this.#disposed.signal])
      : this.#disposed.signal;
    const id = crypto.randomUUID();
    // Undo whatever reached Redis (a queue entry, a grant in flight) with one
    // RELEASE written at the moment of the abort: it follows every earlier
    // command of this acquire on the same connection, and it is out before
    // the caller can even close the client.
    let undone = false;
    const undo = () => {
      if (undone) return;
      undone = true;
      this.release(id, true).catch(() => {});
    };
    signal.addEventListener("abort", undo, { once: true });
    const observer = this.#config.observer;
    const started = performance.now();
    try {
      const lease = await this.#acquireLoop(id, weight, mode, signal);
      const waitMs = performance.now() - started;
      if (lease) {
        observer.metric("wait", waitMs, "acquired");
        observer.emit("acquired", { token: lease.token, waitMs });
      } else observer.metric("wait", waitMs, "unavailable");
      return lease;
    } catch (error) {
      undo();
      const waitMs = performance.now() - started;
      observer.metric("wait", waitMs, "aborted");
      if (signal.aborted) {
        observer.emit("timeout", { waitMs, reason: signal.reason });
        throw signal.reason;
      }
      throw error;
    } finally {
      signal.removeEventListener("abort", undo);
    }
  }

  async #acquireLoop(
    id: string,
    weight: number,
    mode: "wait" | "try",
    signal: AbortSignal,
  ): Promise<Lease | undefined> {
    const { options } = this.#config;
    const heartbeatMs = Math.max(10, Math.floor(options.waiterTtlMs / 3));
    let sentAt = performance.now();
    // Blocking waiters queue for a hand-off. Pollers do not: a permit handed
    // to a poller would sit idle until its next attempt, so each attempt only
    // takes a permit that is free with nobody queued.
    const blocking = options.wait.strategy === "blocking";
    const scriptMode = mode === "wait" && blocking ? "wait" : "try";
    let state = await this.#tryOnce(id, weight, scriptMode, signal, true);
    for (let attempt = 0;; attempt++) {
      if (state.granted) {
        signal.throwIfAborted(); // granted but no longer wanted: undone by the caller
        return this.#lease(id, state.token, weight, state.leftMs, sentAt);
      }
      if (mode === "try") return undefined;
      if (attempt === 0) this.#config.observer.emit("waiting", {});
      this.#markContended(state.serverNow);
      const wakeMs = state.wakeMs >= 0
        ? Math.min(heartbeatMs, state.wakeMs + 1)
        : heartbeatMs;
      if (options.wait.strategy === "blocking") {
        const popped = await this.#blockForGrant(id, wakeMs, signal);
        if (popped !== null) {
          signal.throwIfAborted();
          // The server's clock read `serverNow` no earlier than `sentAt` here,
          // so its lease end maps to a local deadline that is never late.
          const leftMs = popped.leaseEnd - state.serverNow;
          return this.#lease(id, popped.token, weight, leftMs, sentAt);
        }
      } else {
        const { intervalMs, maxIntervalMs, factor, jitter } = options.wait;
        const backoff = Math.min(
          maxIntervalMs,
          intervalMs * factor ** Math.min(attempt, 64),
        );
        await delay(
          Math.min(heartbeatMs, backoff * (1 - jitter * Math.random())),
          signal,
        );
      }
      sentAt = performance.now();
      state = await this.#tryOnce(id, weight, scriptMode, signal, !blocking);
    }
  }

  /**
   * Blocks on this waiter's grant list for up to `wakeMs`; resolves the
   * granted token, or `null` when it is time to check again. Redis serves
   * blocking timeouts only at its `hz` tick (100 ms by default), so a wake
   * for a lease that ends (crash recovery) is timed here instead, and the
   * BLPOP unblocked, which costs one `CLIENT UNBLOCK` and keeps the slack
   * to a few milliseconds.
   */
  async #blockForGrant(
    id: string,
    wakeMs: number,
    signal: AbortSignal,
  ): Promise<Grant | null> {
    const key = this.#keys.grantPrefix + id;
    const client = this.#config.client;
    if (wakeMs >= 1_000) {
      const popped = await client.command(
        ["BLPOP", key, (wakeMs / 1000).toFixed(3)],
        { signal },
      ) as string[] | null;
      return popped && parseGrant(popped[1]);
    }
    const wake = new AbortController();
    const timer = setTimeout(() => wake.abort(), wakeMs);
    try {
      const popped = await client.command(["BLPOP", key, 1], {
        signal: AbortSignal.any([signal, wake.signal]),
      }) as string[] | null;
      return popped && parseGrant(popped[1]);
    } catch (error) {
      if (signal.aborted || !wake.signal.aborted) throw error;
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Waiting statistics: the primitive is listed in `p:contended` (a ZSET of
   * names by the server time their last waiter's heartbeat lapses), so the
   * entry disappears by itself when waiters are killed. Not awaited: it is
   * not on the path to the lock.
   */
  #markContended(serverNow: number): void {
    const { prefix, waiterTtlMs } = this.#config.options;
    // Once per third of the waiter TTL per primitive and process is enough
    // to keep the entry alive while anyone here waits.
    const now = performance.now();
    if (now < this.#contendedUntil) return;
    this.#contendedUntil = now + waiterTtlMs / 3;
    CONTENDED.run(this.#config.client, [contendedKey(prefix)], [
      this.name,
      serverNow + waiterTtlMs,
      waiterTtlMs,
    ]).catch(() => {});
  }

  async #tryOnce(
    id: string,
    weight: number,
    mode: "wait" | "try",
    signal: AbortSignal,
    fresh = false,
  ): Promise<Granted | Waiting> {
    const { options, limit, keepMeta, idleTtlMs } = this.#config;
    const reply = await ACQUIRE.run(this.#config.client, this.#keys.script, [
      id,
      limit,
      weight,
      options.leaseMs,
      mode,
      options.waiterTtlMs,
      idleTtlMs,
      this.#keys.grantPrefix,
      keepMeta ? "1" : "0",
      fresh ? "1" : "0",
    ], { signal }) as number[];
    if (reply[0] === -1) {
      throw new SemaphoreMismatchError(this.name, reply[1], limit);
    }
    if (reply[0] === 1) {
      return { granted: true, token: reply[1], leftMs: reply[2] };
    }
    return { granted: false, wakeMs: reply[1], serverNow: reply[3] };
  }

  #lease(
    id: string,
    token: number,
    weight: number,
    leftMs: number,
    sentAt: number,
  ): Lease {
    const { leaseMs, renew } = this.#config.options;
    const lease = new Lease(this, id, token, weight, {
      leaseMs,
      renew,
      leftMs,
      sentAt,
    });
    this.#leases.add(lease);
    return lease;
  }

  /**
   * @internal LeaseBackend: gives the permit back (or leaves the queue).
   * `atOnce`: send the whole script (`EVAL`) rather than `EVALSHA` with a
   * fallback, so that one command, written now, does it all even if the
   * server lost its script cache and the caller closes the client next.
   */
  async release(id: string, atOnce = false): Promise<number> {
    const reply = await RELEASE.run(this.#config.client, this.#keys.script, [
      id,
      this.#config.limit,
      this.#keys.grantPrefix,
    ], atOnce ? { evalOnly: true } : undefined);
    return reply as number;
  }

  /** @internal LeaseBackend: extends a live lease. */
  async extend(id: string, leaseMs: number): Promise<number> {
    const reply = await EXTEND.run(this.#config.client, this.#keys.script, [
      id,
      leaseMs,
      this.#config.limit,
      this.#keys.grantPrefix,
    ]);
    return reply as number;
  }

  /** @internal LeaseBackend: the lease ended. */
  settle(lease: Lease, lost: LockLostError | undefined, heldMs: number): void {
    this.#leases.delete(lease);
    const observer = this.#config.observer;
    observer.metric("hold", heldMs);
    if (!lost) {
      observer.emit("released", { token: lease.token, heldMs });
      return;
    }
    observer.metric("lost");
    observer.emit("lost", { token: lease.token, heldMs, reason: lost });
    const onLost = this.#config.options.onLost;
    if (onLost) guard(() => onLost(lost));
  }

  /** @internal LeaseBackend: a renewal succeeded. */
  renewed(lease: Lease): void {
    this.#config.observer.emit("renewed", { token: lease.token });
  }

  /** @internal LeaseBackend: a renewal attempt failed. */
  renewalFailed(_lease: Lease, error: unknown): void {
    this.#config.observer.renewalFailed(error);
  }

  #disposedError(): DisposedError {
    return new DisposedError(
      `Cannot use '${this.name}' as it was disposed`,
    );
  }

  /** The primitive's state in Redis now. */
  info(): Promise<LockInfo> {
    return inspect(this.#config.client, this.name, {
      prefix: this.#config.options.prefix,
    });
  }

  /** Rejects pending acquires with `DisposedError` and releases every lease. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.#disposed.abort(this.#disposedError());
    await Promise.allSettled([...this.#leases].map((l) => l.release()));
  }
}

function parseGrant(value: string): Grant {
  const [token, leaseEnd] = value.split(":");
  return { token: Number(token), leaseEnd: Number(leaseEnd) };
}
