/**
 * A distributed broadcast event, like asyncio's `Event`: `set()` lets every
 * current and later `wait()` through until `clear()`.
 *
 * @module
 */
import {
  checkClient,
  internalsOf,
  type RedisClient,
} from "../client/client.ts";
import { retryTransient, typed, unavailable } from "../_internal/transient.ts";
import {
  type EventOptions,
  type ResolvedEventOptions,
  resolveEventOptions,
} from "./options.ts";
import { toAcquireOptions } from "../locks/options.ts";
import { EVENT_INFO, EVENT_SET, EVENT_WAIT } from "./scripts.ts";

/** What {@linkcode ManualResetEvent.info} reports. */
export interface ManualResetEventInfo {
  /** The event is set now. */
  isSet: boolean;
  /** Waiters registered with a live heartbeat. */
  waiters: number;
  /** PTTL of its keys in ms (-1 no TTL, -2 absent). */
  keyTtls: { state: number; listeners: number };
}

/**
 * Broadcast event. Waiters register in Redis, and `set()` wakes all of
 * them at once, each through its client's wake hub: no polling, and no
 * connection per waiter. A crashed waiter's registration expires after
 * `waiterTtlMs`.
 *
 * Keys: `p:{name}:state` (set flag, TTL `ttlMs`), `p:{name}:listeners`
 * (ZSET of waiters by heartbeat), `p:{name}:woken` (waiters a `set()`
 * woke, for their re-check); the wake-ups are pub/sub messages on the
 * channel `p:wake:<hub>` (`p:{name}:wake:<hub>` in a cluster), not keys.
 *
 * @example
 * ```ts
 * import { connect, ManualResetEvent } from "@redsync/core";
 * await using redis = await connect();
 * const ready = new ManualResetEvent(redis, "cache-warmed");
 * // in workers:
 * await ready.wait(AbortSignal.timeout(60_000));
 * // in the warmer, once:
 * await ready.set();
 * ```
 */
export class ManualResetEvent {
  /** The name shared by every process that uses this event. */
  readonly name: string;
  readonly #client: RedisClient;
  readonly #options: ResolvedEventOptions;
  readonly #keys: string[];
  /** Where scripts wake this client's waiters (see `Topology.wakePrefix`). */
  readonly #wakePrefix: string;

  /** Describes the event; nothing is sent until a method is called. */
  constructor(client: RedisClient, name: string, options?: EventOptions) {
    checkClient("create an event", client);
    this.#options = resolveEventOptions("create an event", name, options);
    this.name = name;
    this.#client = client;
    const { base } = this.#options;
    this.#keys = [`${base}:state`, `${base}:listeners`, `${base}:woken`];
    this.#wakePrefix = internalsOf(client).wakePrefix(
      this.#options.prefix,
      base,
    );
  }

  /**
   * Sets the event: every waiter wakes, and later `wait()`s pass at once
   * until `clear()`. Resolves with the number of waiters woken.
   *
   * @example
   * ```ts
   * import { connect, ManualResetEvent } from "@redsync/core";
   * await using redis = await connect();
   * const woken = await new ManualResetEvent(redis, "go").set();
   * ```
   */
  async set(): Promise<number> {
    const { ttlMs, waiterTtlMs } = this.#options;
    return await this.#typed(EVENT_SET.run(this.#client, this.#keys, [
      ttlMs,
      this.#wakePrefix,
      waiterTtlMs,
    ]));
  }

  /**
   * Clears the event: later `wait()`s block until the next `set()`.
   *
   * @example
   * ```ts
   * import { connect, ManualResetEvent } from "@redsync/core";
   * await using redis = await connect();
   * await new ManualResetEvent(redis, "go").clear();
   * ```
   */
  async clear(): Promise<void> {
    await this.#typed(this.#client.send("DEL", this.#keys[0]));
  }

  /**
   * Tells whether the event is set now.
   *
   * @example
   * ```ts
   * import { connect, ManualResetEvent } from "@redsync/core";
   * await using redis = await connect();
   * console.log(await new ManualResetEvent(redis, "go").isSet());
   * ```
   */
  async isSet(): Promise<boolean> {
    return await this.#typed(this.#client.send("EXISTS", this.#keys[0])) ===
      1;
  }

  /**
   * Reads the event's state in Redis: set or not, live waiters, key TTLs.
   *
   * @example
   * ```ts
   * import { connect, ManualResetEvent } from "@redsync/core";
   * await using redis = await connect();
   * const { isSet, waiters } = await new ManualResetEvent(redis, "go").info();
   * ```
   */
  async info(): Promise<ManualResetEventInfo> {
    const [set, waiters, state, listeners] = await this.#typed(
      EVENT_INFO.run(this.#client, this.#keys.slice(0, 2)),
    );
    return { isSet: set === 1, waiters, keyTtls: { state, listeners } };
  }

  /**
   * Resolves when the event is set (at once if it is), waiting out
   * outages (a lost connection, `LOADING`...). Rejects with
   * `signal.reason` when the signal aborts first.
   *
   * @example
   * ```ts
   * import { connect, ManualResetEvent } from "@redsync/core";
   * await using redis = await connect();
   * await new ManualResetEvent(redis, "go").wait({ signal: AbortSignal.timeout(5_000) });
   * ```
   */
  async wait(signal?: AbortSignal | { signal?: AbortSignal }): Promise<void> {
    const { signal: abort } = toAcquireOptions("wait", signal);
    abort?.throwIfAborted();
    const client = this.#client;
    const { waiterTtlMs } = this.#options;
    const ticket = internalsOf(client).hub().ticket(this.#wakePrefix);
    const id = ticket.id;
    const heartbeatMs = Math.max(10, waiterTtlMs / 3);
    const [, listeners, woken] = this.#keys;
    // An abort unregisters at once (ordered after the registration).
    const forget = () => {
      client.send("ZREM", listeners, id).catch(() => {});
      client.send("SREM", woken, id).catch(() => {});
    };
    abort?.addEventListener("abort", forget, { once: true });
    const never = new AbortController().signal;
    try {
      for (;;) {
        const set = await retryTransient(
          () =>
            EVENT_WAIT.run(client, this.#keys, [id, waiterTtlMs], {
              signal: abort,
            }),
          { signal: abort, closed: () => client.closed },
        );
        if (set === 1) return;
        ticket.listen();
        const message = await ticket.next(heartbeatMs, abort ?? never);
        if (typeof message === "string") {
          client.send("SREM", woken, id).catch(() => {});
          return; // a set() happened while we waited
        }
        // TIMEOUT: refresh the registration; REARM: re-check.
      }
    } catch (error) {
      if (abort?.aborted) throw abort.reason;
      throw unavailable(error, client.closed);
    } finally {
      abort?.removeEventListener("abort", forget);
      ticket.close();
    }
  }

  /** A transient failure as `RedisUnavailableError` (see `unavailable`). */
  #typed<T>(promise: Promise<T>): Promise<T> {
    return typed(promise, () => this.#client.closed);
  }
}
