/**
 * Observability without dependencies: typed `LockEvent`s on an
 * `EventTarget`, an optional console-like logger, and a metrics hook.
 * Nothing is logged unless a logger is given.
 *
 * @module
 */
import type { LockLostError, LockSnapshot } from "./errors.ts";

/** What happened to a lock primitive. */
export type LockEventType =
  | "waiting"
  | "acquired"
  | "timeout"
  | "released"
  | "renewed"
  | "lost"
  | "shortfall";

/** Fields of a {@linkcode LockEvent}. */
export interface LockEventInit {
  /** Name of the primitive. */
  lockName: string;
  /**
   * Id of the waiter (`waiting`, `timeout`) or lease (the others) concerned:
   * a waiter's lease gets its id, which `inspect()` lists as a holder's `id`.
   */
  id?: string;
  /** Fencing token of the lease concerned. */
  token?: number;
  /** Permits asked for (`waiting`, `acquired`, `timeout`; not Redlock). */
  permits?: number;
  /** Time spent waiting, in ms (`acquired`, `timeout`). */
  waitMs?: number;
  /** Time the lease was held, in ms (`released`, `lost`). */
  heldMs?: number;
  /** Why: the abort reason (`timeout`) or the `LockLostError` (`lost`). */
  reason?: unknown;
  /** Who held the lock when a wait gave up (`timeout`), if read in time. */
  snapshot?: LockSnapshot;
}

/**
 * An event of a lock primitive's life, dispatched on the primitive (an
 * `EventTarget`).
 *
 * @example
 * ```ts
 * import { connect, Mutex } from "@redsync/core";
 * await using redis = await connect();
 * const mutex = new Mutex(redis, "report");
 * mutex.addEventListener("acquired", (event) => {
 *   console.log(`token ${event.token} after ${event.waitMs?.toFixed(1)} ms`);
 * });
 * mutex.addEventListener("lost", (event) => console.error(event.reason));
 * mutex.addEventListener("timeout", (event) => {
 *   const holder = event.snapshot?.holders[0];
 *   console.warn(`waiter ${event.id} gave up; held by ${holder?.meta ?? holder?.id}`);
 * });
 * ```
 */
export class LockEvent extends Event {
  /** Name of the primitive. */
  readonly lockName: string;
  /**
   * Id of the waiter (`waiting`, `timeout`) or lease concerned: the id
   * `inspect()` lists for a holder (a waiter's lease gets its id).
   */
  readonly id: string | undefined;
  /** Fencing token of the lease concerned. */
  readonly token: number | undefined;
  /**
   * Permits asked for (`waiting`, `acquired`, `timeout`): a write of a
   * `ReadWriteLock` asks for all; `undefined` for a `Redlock`.
   */
  readonly permits: number | undefined;
  /** Time spent waiting, in ms (`acquired`, `timeout`). */
  readonly waitMs: number | undefined;
  /** Time the lease was held, in ms (`released`, `lost`). */
  readonly heldMs: number | undefined;
  /** The abort reason (`timeout`) or the `LockLostError` (`lost`). */
  readonly reason: unknown;
  /**
   * `timeout`: who held the lock when the wait gave up (holders with
   * token, meta, held for, lease left; queue length), read once within
   * 500 ms after it; `undefined` when that read failed or was slow.
   */
  readonly snapshot: LockSnapshot | undefined;

  /** Builds the event. */
  constructor(type: LockEventType, init: LockEventInit) {
    super(type);
    this.lockName = init.lockName;
    this.id = init.id;
    this.token = init.token;
    this.permits = init.permits;
    this.waitMs = init.waitMs;
    this.heldMs = init.heldMs;
    this.reason = init.reason;
    this.snapshot = init.snapshot;
  }
}

/** The event types of a lock primitive, for typed listeners. */
export interface LockEventMap {
  /** `acquire()` had to queue. */
  waiting: LockEvent;
  /** A lease was granted. */
  acquired: LockEvent;
  /** An `acquire()` gave up (its signal aborted). */
  timeout: LockEvent;
  /** A lease was released. */
  released: LockEvent;
  /** A lease was renewed. */
  renewed: LockEvent;
  /** A lease was lost. */
  lost: LockEvent;
  /** Too few replicas acknowledged a grant or renewal (`durability`). */
  shortfall: LockEvent;
}

/** Any console-like object: `console`, pino, winston, ... */
export interface LockLogger {
  /** Acquired, released, renewed, waiting. */
  debug?(...data: unknown[]): void;
  /** Timeouts. */
  info?(...data: unknown[]): void;
  /** Renewal failures that may still recover. */
  warn?(...data: unknown[]): void;
  /** Lost leases. */
  error?(...data: unknown[]): void;
}

/**
 * Numbers operators chart. Every method is optional; see
 * docs/observability.md for feeding them into Prometheus or OpenTelemetry
 * (`@redsync/core/otel`).
 *
 * @example Count lost leases and record wait times
 * ```ts
 * import { connect, type LockMetrics, Mutex } from "@redsync/core";
 * const waits: number[] = [];
 * let lost = 0;
 * const metrics: LockMetrics = {
 *   wait: (_name, ms, outcome) => outcome === "acquired" && waits.push(ms),
 *   lost: () => lost++,
 * };
 * await using redis = await connect();
 * const mutex = new Mutex(redis, "report", { metrics });
 * ```
 */
export interface LockMetrics {
  /** A wait ended: granted, aborted, or (tryAcquire) found no free permit. */
  wait?(
    name: string,
    ms: number,
    outcome: "acquired" | "aborted" | "unavailable",
  ): void;
  /** A lease ended after being held `ms`. */
  hold?(name: string, ms: number): void;
  /** A renewal attempt failed (the lease may still be saved by a retry). */
  renewalFailure?(name: string, error: unknown): void;
  /** A lease was lost. */
  lost?(name: string): void;
}

/**
 * `EventTarget` with typed listeners for {@linkcode LockEventMap}; the base
 * of every lock primitive.
 *
 * @example
 * ```ts
 * import { connect, Semaphore } from "@redsync/core";
 * await using redis = await connect();
 * const pool = await Semaphore.create(redis, "pool", { permits: 2 });
 * pool.addEventListener("waiting", (e) => console.log(`${e.lockName}: queued`));
 * ```
 */
export class LockEventTarget extends EventTarget {
  /** Event types anyone ever listened to: others are not even built. */
  readonly #listened = new Set<string>();

  /** @internal Whether an event of `type` may have a listener. */
  hasListeners(type: string): boolean {
    return this.#listened.has(type);
  }

  /** Listens to one of the {@linkcode LockEventMap} events. */
  override addEventListener<K extends keyof LockEventMap>(
    type: K,
    listener: (event: LockEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Listens to any event type. */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener:
      | EventListenerOrEventListenerObject
      | ((event: LockEvent) => void)
      | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    this.#listened.add(type);
    super.addEventListener(type, listener as EventListener, options);
  }

  /** Stops listening. */
  override removeEventListener<K extends keyof LockEventMap>(
    type: K,
    listener: (event: LockEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  /** Stops listening to any event type. */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener:
      | EventListenerOrEventListenerObject
      | ((event: LockEvent) => void)
      | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener as EventListener, options);
  }
}

const LEVEL: Record<LockEventType, keyof LockLogger> = {
  waiting: "debug",
  acquired: "debug",
  released: "debug",
  renewed: "debug",
  timeout: "info",
  lost: "error",
  shortfall: "warn",
};

/** @internal Fans one occurrence out to events, the logger and metrics. */
export class Observer {
  readonly #target: LockEventTarget;
  readonly #name: string;
  readonly #logger: LockLogger | undefined;
  readonly #metrics: LockMetrics | undefined;

  constructor(
    target: LockEventTarget,
    name: string,
    logger: LockLogger | undefined,
    metrics: LockMetrics | undefined,
  ) {
    this.#target = target;
    this.#name = name;
    this.#logger = logger;
    this.#metrics = metrics;
  }

  /** Whether an event of `type` has a listener or would be logged. */
  wants(type: LockEventType): boolean {
    return this.#target.hasListeners(type) ||
      this.#logger?.[LEVEL[type]] !== undefined;
  }

  /** Dispatches the event and logs it; listener and logger errors are reported, not thrown. */
  emit(type: LockEventType, init: Omit<LockEventInit, "lockName">): void {
    if (this.#target.hasListeners(type)) {
      this.#target.dispatchEvent(
        new LockEvent(type, { ...init, lockName: this.#name }),
      );
    }
    const log = this.#logger?.[LEVEL[type]];
    if (log) {
      const parts = [`redsync: ${type} '${this.#name}'`];
      if (init.id !== undefined) parts.push(`id=${init.id}`);
      if (init.token !== undefined) parts.push(`token=${init.token}`);
      if (init.waitMs !== undefined) {
        parts.push(`waited=${init.waitMs.toFixed(1)}ms`);
      }
      if (init.heldMs !== undefined) {
        parts.push(`held=${init.heldMs.toFixed(1)}ms`);
      }
      const held = init.snapshot?.holders.map((h) => h.meta ?? h.id);
      if (held) parts.push(`heldBy=${JSON.stringify(held)}`);
      guard(() =>
        init.reason === undefined
          ? log.call(this.#logger, parts.join(" "))
          : log.call(this.#logger, parts.join(" "), init.reason)
      );
    }
  }

  /**
   * A lease ended after `heldMs`: the `hold` metric, then `released`, or
   * `lost` (with its metric, and `onLost` when given).
   */
  ended(
    token: number,
    heldMs: number,
    lost: LockLostError | undefined,
    onLost?: (error: LockLostError) => void,
    id?: string,
  ): void {
    this.metric("hold", heldMs);
    if (!lost) {
      this.emit("released", { id, token, heldMs });
      return;
    }
    this.metric("lost");
    this.emit("lost", { id, token, heldMs, reason: lost });
    if (onLost) guard(() => onLost(lost));
  }

  /** Calls one metrics method, if present, without letting it throw. */
  metric<K extends keyof LockMetrics>(
    key: K,
    ...args: AfterName<NonNullable<LockMetrics[K]>>
  ): void {
    const fn = this.#metrics?.[key] as
      | ((...a: unknown[]) => void)
      | undefined;
    if (fn) guard(() => fn.call(this.#metrics, this.#name, ...args));
  }

  /**
   * The server may evict lock keys (its `maxmemory-policy` is not
   * `noeviction`): an evicted `holders` key would admit more holders.
   */
  evictionWarning(policy: string): void {
    const warn = this.#logger?.warn;
    if (warn) {
      guard(() =>
        warn.call(
          this.#logger,
          `redsync: Redis evicts keys under memory pressure (maxmemory-policy ${policy}); lock keys have TTLs, so an eviction can drop a lease and admit more holders: use maxmemory-policy noeviction for lock data`,
        )
      );
    }
  }

  /**
   * Too few replicas acknowledged a grant or renewal (`durability`): a
   * `shortfall` event (logged as a warning).
   */
  shortfall(error: Error, id?: string): void {
    this.emit("shortfall", { id, reason: error });
  }

  /** A wait met a transient error (Redis unreachable...) and retries. */
  waitRetry(error: unknown, doing = "waiting for"): void {
    const warn = this.#logger?.warn;
    if (warn) {
      guard(() =>
        warn.call(
          this.#logger,
          `redsync: ${doing} '${this.#name}' met an error, retrying`,
          error,
        )
      );
    }
  }

  /** Logs a renewal failure that may still recover. */
  renewalFailed(error: unknown): void {
    this.metric("renewalFailure", error);
    const warn = this.#logger?.warn;
    if (warn) {
      guard(() =>
        warn.call(
          this.#logger,
          `redsync: renewal of '${this.#name}' failed, retrying`,
          error,
        )
      );
    }
  }
}

/** The parameters of a metrics method after its `name`. */
type AfterName<F> = F extends (name: string, ...rest: infer R) => void ? R
  : never;

/** Runs `fn`; an exception goes to `reportError` (where the runtime has it). */
export function guard(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    const report = (globalThis as { reportError?: (e: unknown) => void })
      .reportError;
    report?.(error);
  }
}
