/**
 * A distributed one-to-one event (redsync's `RedisEvent`): each `set()`
 * lets exactly one `wait()` through.
 *
 * @module
 */
import {
  checkClient,
  internalsOf,
  type RedisClient,
} from "../client/client.ts";
import { retryTransient, typed, unavailable } from "../_internal/transient.ts";
import { abortable } from "../_internal/async.ts";
import {
  type EventOptions,
  type ResolvedEventOptions,
  resolveEventOptions,
} from "./options.ts";
import { toAcquireOptions } from "../locks/options.ts";
import { SIGNAL_SET, SIGNAL_TAKE, SIGNAL_UNDO } from "./scripts.ts";

/**
 * One-to-one event. Each `set()` hands one signal to the first waiter in
 * line (FIFO by server time), woken through its client's wake hub: no
 * polling, and no connection per waiter. Signals set while nobody waits
 * are kept, in order, up to `maxPending` and for `ttlMs` after the last
 * `set()`. Unlike .NET's, sets do not coalesce: three sets release three
 * waits.
 *
 * A signal is consumed exactly by a wait that resolves: an aborted wait
 * gives back a signal handed to it (to the next waiter, or to the head of
 * the list). A waiter that dies after being handed a signal, before it
 * claimed it, gives it back after `waiterTtlMs`; one killed after claiming
 * it consumes it (as with any queue without acknowledgements).
 *
 * Keys: `p:{name}:signals` (LIST, TTL `ttlMs`), `p:{name}:takers` and
 * `p:{name}:heartbeats` (the waiters in line, ZSETs), `p:{name}:granted`
 * (signals handed to a waiter, to claim); waiters are woken through their
 * client's wake hub, by pub/sub on the channel `p:wake:<hub>`
 * (`p:{name}:wake:<hub>` in a cluster), which is not a key.
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
  /** signals, takers, heartbeats, granted. */
  readonly #keys: string[];
  readonly #wakePrefix: string;

  /** Describes the event; nothing is sent until a method is called. */
  constructor(client: RedisClient, name: string, options?: EventOptions) {
    checkClient("create an event", client);
    this.#options = resolveEventOptions("create an event", name, options);
    this.name = name;
    this.#client = client;
    const { base } = this.#options;
    this.#key = `${base}:signals`;
    this.#keys = [
      this.#key,
      `${base}:takers`,
      `${base}:heartbeats`,
      `${base}:granted`,
    ];
    this.#wakePrefix = internalsOf(client).wakePrefix(
      this.#options.prefix,
      base,
    );
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
    return await this.#typed(
      SIGNAL_SET.run(this.#client, this.#keys, this.#tail()),
    ) === 1;
  }

  /** The ARGV every script of this event ends with. */
  #tail(): [string, number, number, number] {
    const { maxPending, ttlMs, waiterTtlMs } = this.#options;
    return [this.#wakePrefix, waiterTtlMs, maxPending, ttlMs];
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
    await this.#typed(this.#client.send("DEL", this.#key));
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
    return await this.#typed(this.#client.send("EXISTS", this.#key)) === 1;
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
    return await this.#typed(this.#client.send("LLEN", this.#key)) as number;
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
    const [pending, ttlMs] = await this.#typed(Promise.all([
      this.#client.send("LLEN", this.#key),
      this.#client.send("PTTL", this.#key),
    ])) as number[];
    return { pending, ttlMs };
  }

  /**
   * Takes one signal, waiting for it if none is pending, and waiting out
   * outages (a lost connection, `LOADING`...). Rejects with
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
    const client = this.#client;
    const ticket = internalsOf(client).hub().ticket(this.#wakePrefix);
    const id = ticket.id;
    const heartbeatMs = Math.max(10, this.#options.waiterTtlMs / 3);
    // An abort leaves the line, and gives back a grant made meanwhile: one
    // script written at the moment of the abort, after this wait's own.
    // `had`: a signal this wait took after all (its take was in flight).
    let undone = false;
    const undo = (had: boolean) => {
      if (undone && !had) return;
      undone = true;
      SIGNAL_UNDO.run(client, this.#keys, [
        id,
        had ? "1" : "0",
        ...this.#tail(),
      ], {
        evalOnly: true,
      }).catch(() => {});
    };
    const onAbort = () => undo(false);
    abort?.addEventListener("abort", onAbort, { once: true });
    const never = new AbortController().signal;
    try {
      for (;;) {
        // Sent without the signal, so its outcome is always known: an abort
        // still rejects at once, and a signal the take got is given back.
        const take = retryTransient(
          () =>
            SIGNAL_TAKE.run(client, this.#keys, [id, ...this.#tail()], {
              noRetryAfter: abort, // else it could run after the undo
            }),
          { signal: abort, closed: () => client.closed }, // no retry after it
        );
        take.then((taken) => {
          if (taken === 1 && abort?.aborted) undo(true);
        }, () => {});
        const taken = await abortable(take, abort);
        if (taken === 1) return;
        ticket.listen();
        // A wake message means a grant to claim: the next SIGNAL_TAKE
        // consumes it. TIMEOUT refreshes the heartbeat; REARM re-checks.
        await ticket.next(heartbeatMs, abort ?? never);
      }
    } catch (error) {
      undo(false);
      if (abort?.aborted) throw abort.reason;
      throw unavailable(error, client.closed);
    } finally {
      abort?.removeEventListener("abort", onAbort);
      ticket.close();
    }
  }

  /** A transient failure as `RedisUnavailableError` (see `unavailable`). */
  #typed<T>(promise: Promise<T>): Promise<T> {
    return typed(promise, () => this.#client.closed);
  }
}
