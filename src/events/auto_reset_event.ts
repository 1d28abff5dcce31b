/**
 * A distributed one-to-one event (redsync's `RedisEvent`): each `set()`
 * lets exactly one `wait()` through.
 *
 * @module
 */
import type { RedisClient } from "../client/client.ts";
import {
  type EventOptions,
  type ResolvedEventOptions,
  resolveEventOptions,
} from "./options.ts";
import { toAcquireOptions } from "../locks/options.ts";
import { SIGNAL_PUSH } from "./scripts.ts";

/**
 * One-to-one event. Each `set()` queues one signal and wakes one waiter
 * (`BLPOP`, no polling); signals set while nobody waits are kept, in order,
 * up to `maxPending` and for `ttlMs` after the last `set()`. Unlike .NET's,
 * sets do not coalesce: three sets release three waits.
 *
 * A wait aborted after its signal was already popped puts the signal back at
 * the head, so a signal is consumed exactly by a wait that resolves. A
 * process killed right after taking a signal consumes it (as with any queue
 * without acknowledgements).
 *
 * Key: `p:{name}:signals` (LIST, TTL `ttlMs`).
 *
 * @example
 * ```ts
 * import { AutoResetEvent, connect } from "@redsync/core";
 * await using redis = await connect();
 * const jobReady = new AutoResetEvent(redis, "job-ready");
 * await jobReady.set(); // in the producer
 * await jobReady.wait(AbortSignal.timeout(10_000)); // in one consumer
 * ```
 */
export class AutoResetEvent {
  /** The name shared by every process that uses this event. */
  readonly name: string;
  readonly #client: RedisClient;
  readonly #options: ResolvedEventOptions;
  readonly #key: string;

  /** Describes the event; nothing is sent until a method is called. */
  constructor(client: RedisClient, name: string, options?: EventOptions) {
    this.#options = resolveEventOptions("create an event", name, options);
    this.name = name;
    this.#client = client;
    this.#key = `${this.#options.base}:signals`;
  }

  /**
   * Lets one waiter through, now or (if nobody waits) later. Resolves
   * `false` when `maxPending` signals are already queued (nothing added).
   *
   * @example
   * ```ts
   * import { AutoResetEvent, connect } from "@redsync/core";
   * await using redis = await connect();
   * if (!await new AutoResetEvent(redis, "jobs").set()) console.warn("backlog full");
   * ```
   */
  async set(): Promise<boolean> {
    const { maxPending, ttlMs } = this.#options;
    return await SIGNAL_PUSH.run(this.#client, [this.#key], [
      maxPending,
      ttlMs,
      "0",
    ]) === 1;
  }

  /**
   * Drops every pending signal.
   *
   * @example
   * ```ts
   * import { AutoResetEvent, connect } from "@redsync/core";
   * await using redis = await connect();
   * await new AutoResetEvent(redis, "jobs").clear();
   * ```
   */
  async clear(): Promise<void> {
    await this.#client.send("DEL", this.#key);
  }

  /**
   * Tells whether a signal is pending (a `wait()` would pass at once).
   *
   * @example
   * ```ts
   * import { AutoResetEvent, connect } from "@redsync/core";
   * await using redis = await connect();
   * console.log(await new AutoResetEvent(redis, "jobs").isSet());
   * ```
   */
  async isSet(): Promise<boolean> {
    return await this.#client.send("EXISTS", this.#key) === 1;
  }

  /**
   * Number of signals pending now.
   *
   * @example
   * ```ts
   * import { AutoResetEvent, connect } from "@redsync/core";
   * await using redis = await connect();
   * console.log(await new AutoResetEvent(redis, "jobs").pending());
   * ```
   */
  async pending(): Promise<number> {
    return await this.#client.send("LLEN", this.#key) as number;
  }

  /**
   * Reads the event's state in Redis: pending signals and the key's TTL.
   *
   * @example
   * ```ts
   * import { AutoResetEvent, connect } from "@redsync/core";
   * await using redis = await connect();
   * const { pending, ttlMs } = await new AutoResetEvent(redis, "jobs").info();
   * ```
   */
  async info(): Promise<{ pending: number; ttlMs: number }> {
    const [pending, ttlMs] = await Promise.all([
      this.#client.send("LLEN", this.#key),
      this.#client.send("PTTL", this.#key),
    ]) as number[];
    return { pending, ttlMs };
  }

  /**
   * Takes one signal, waiting for it if none is pending. Rejects with
   * `signal.reason` when the signal aborts first, and then takes nothing.
   *
   * @example
   * ```ts
   * import { AutoResetEvent, connect } from "@redsync/core";
   * await using redis = await connect();
   * await new AutoResetEvent(redis, "jobs").wait({ signal: AbortSignal.timeout(1_000) });
   * ```
   */
  async wait(signal?: AbortSignal | { signal?: AbortSignal }): Promise<void> {
    const { signal: abort } = toAcquireOptions("wait", signal);
    abort?.throwIfAborted();
    await this.#client.command(["BLPOP", this.#key, 0], { signal: abort });
    if (abort?.aborted) {
      // Served just as the abort came: give the signal back, at the head.
      await SIGNAL_PUSH.run(this.#client, [this.#key], [
        this.#options.maxPending,
        this.#options.ttlMs,
        "1",
      ]);
      throw abort.reason;
    }
  }
}
