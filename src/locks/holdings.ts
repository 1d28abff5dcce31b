/**
 * The leases of one primitive in this process, and everything a lease asks
 * of its primitive (`LeaseBackend`): release (at once, or retried in the
 * background until it lands), extend, and reporting when a lease ends or
 * renews. Composed into `LockEngine`.
 *
 * @module
 */
import { internalsOf, type RedisClient } from "../client/client.ts";
import { DurabilityError, type LockLostError } from "../errors.ts";
import { acknowledged, waitCommand } from "./durability.ts";
import { backoff, pause } from "../_internal/async.ts";
import { isTransientError } from "../_internal/transient.ts";
import type { Observer } from "../observe.ts";
import type { LockKeys } from "./keys.ts";
import {
  createLease,
  type Lease,
  type LeaseBackend,
  retryRenewal,
} from "./lease.ts";
import type { ResolvedLockOptions } from "./options.ts";
import { RELEASE } from "./scripts.ts";
import { EXTEND } from "./scripts.ts";
import type { Grant } from "./wait.ts";

/** What {@linkcode Holdings} is built from. */
export interface HoldingsConfig {
  client: RedisClient;
  name: string;
  /** Permit count (1 for a mutex). */
  limit: number;
  keys: LockKeys;
  options: ResolvedLockOptions;
  observer: Observer;
  /** Called when the last lease held here ends. */
  onIdle?: () => void;
}

/** The leases one primitive holds here, and their backend. */
export class Holdings implements LeaseBackend<Lease> {
  readonly name: string;
  readonly #config: HoldingsConfig;
  readonly #leases = new Set<Lease>();
  /** Cleanups (`releaseLater`) still waiting for their first answer. */
  readonly #answers = new Set<Promise<void>>();
  #unsubscribe: (() => void) | undefined;

  constructor(config: HoldingsConfig) {
    this.#config = config;
    this.name = config.name;
  }

  /** Leases still held in this process. */
  get leases(): ReadonlySet<Lease> {
    return this.#leases;
  }

  /** LeaseBackend: the client is closed. */
  get closed(): boolean {
    return this.#config.client.closed;
  }

  /** Starts the lease of a grant; `now`: `performance.now()` if the caller just read it. */
  lease(id: string, grant: Grant, weight: number, now?: number): Lease {
    const { leaseMs, renew, maxHoldMs } = this.#config.options;
    const { token, leftMs, sentAt } = grant;
    const lease = createLease(this, id, token, weight, {
      leaseMs,
      renew,
      leftMs,
      sentAt,
      maxHoldMs,
      now,
    });
    this.#leases.add(lease);
    // Holders renew as soon as the connection is back, not at their next
    // retry: subscribed only while this primitive holds leases here.
    this.#unsubscribe ??= internalsOf(this.#config.client).onReconnect(() => {
      for (const held of this.#leases) retryRenewal(held);
    });
    return lease;
  }

  /**
   * LeaseBackend: gives the permit back (or leaves the queue).
   * `atOnce`: send the whole script (`EVAL`) rather than `EVALSHA` with a
   * fallback, so that one command, written now, does it all even if the
   * server lost its script cache and the caller closes the client next.
   */
  release(id: string, atOnce = false): Promise<number> {
    return RELEASE.run(this.#config.client, this.#config.keys.scriptBytes, [
      id,
      this.#config.limit,
      this.#config.keys.wakePrefix,
    ], atOnce ? { evalOnly: true } : undefined);
  }

  /**
   * LeaseBackend: a cleanup that must land (an undo, a release
   * that met a dead connection, a lost lease's release). The first attempt
   * is one `EVAL` written now; on a transient error it is retried with
   * backoff, in the background, until it lands, `untilMs` passes (the
   * entry's own TTL has made it moot by then), or the client closes.
   */
  releaseLater(id: string, untilMs: number): void {
    const { client, observer } = this.#config;
    const { closing } = internalsOf(client);
    const retry = async (error: unknown) => {
      const pauses = backoff({ minMs: 50, maxMs: 1_000, jitter: 0.5 });
      // Once the client is closed nothing can land: no retry, no warning.
      while (
        isTransientError(error) && !closing.aborted &&
        performance.now() < untilMs
      ) {
        observer.waitRetry(error, "releasing");
        if (!(await pause(pauses.next().value!, closing))) return;
        try {
          await this.release(id);
          return;
        } catch (next) {
          error = next;
        }
      }
    };
    const first = this.release(id, true);
    first.catch(retry);
    // Until its first answer: what a closing client waits for.
    const answered = first.then(() => {}, () => {});
    this.#answers.add(answered);
    answered.finally(() => this.#answers.delete(answered));
  }

  /** Resolves once every cleanup sent so far got its first answer. */
  async answered(): Promise<void> {
    await Promise.all([...this.#answers]);
  }

  /**
   * LeaseBackend: extends a live lease. With `durability`, only once the
   * replicas have it: too few in time is a `DurabilityError` (with
   * `onShortfall: "fail"`; renewals retry it while the lease lasts).
   */
  async extend(id: string, leaseMs: number): Promise<number> {
    const durability = this.#config.options.durability;
    if (!durability) {
      return await EXTEND.run(
        this.#config.client,
        this.#config.keys.scriptBytes,
        [
          id,
          leaseMs,
          this.#config.limit,
          this.#config.keys.wakePrefix,
        ],
      );
    }
    const { left, shortfall } = await this.extendDurably(id, leaseMs);
    if (shortfall && durability.onShortfall === "fail") throw shortfall;
    return left;
  }

  /**
   * `EXTEND` and `WAIT` (or `WAITAOF`) together on one connection (see
   * `durability.ts`): the lease time left (0: the lease is gone from the
   * server reached), and the shortfall if too few replicas acknowledged
   * (already reported).
   */
  async extendDurably(
    id: string,
    leaseMs: number,
    signal?: AbortSignal,
  ): Promise<{ left: number; shortfall: DurabilityError | undefined }> {
    const { client, keys, limit, options, observer } = this.#config;
    const durability = options.durability!;
    const [left, waited] = await internalsOf(client).writeThenWait(
      keys.script[0],
      (scripts) =>
        EXTEND.command(
          keys.script,
          [id, leaseMs, limit, keys.wakePrefix],
          scripts,
        ),
      waitCommand(durability),
      signal,
    );
    const leftMs = Number(left);
    const count = acknowledged(waited);
    if (leftMs <= 0 || count >= durability.replicas) {
      return { left: leftMs, shortfall: undefined };
    }
    const shortfall = new DurabilityError(
      `Only ${count} of ${durability.replicas} replica(s) acknowledged the lease on '${this.name}' within ${durability.timeoutMs} ms`,
      count,
      durability.replicas,
    );
    observer.shortfall(shortfall, id);
    return { left: leftMs, shortfall };
  }

  /** LeaseBackend: the lease ended. */
  settle(lease: Lease, lost: LockLostError | undefined, heldMs: number): void {
    this.#leases.delete(lease);
    if (this.#leases.size === 0) {
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
      this.#config.onIdle?.();
    }
    this.#config.observer.ended(
      lease.token,
      heldMs,
      lost,
      this.#config.options.onLost,
      lease.id,
    );
  }

  /** LeaseBackend: a renewal succeeded. */
  renewed(lease: Lease): void {
    this.#config.observer.emit("renewed", {
      id: lease.id,
      token: lease.token,
    });
  }

  /** LeaseBackend: a renewal attempt failed. */
  renewalFailed(_lease: Lease, error: unknown): void {
    this.#config.observer.renewalFailed(error);
  }

  /** Releases every lease still held (dispose). */
  async releaseAll(): Promise<void> {
    await Promise.allSettled([...this.#leases].map((l) => l.release()));
  }
}
