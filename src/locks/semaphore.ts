/**
 * A distributed counting semaphore: at most `permits` holders at a time
 * across every process that uses the same name on the same Redis.
 *
 * @module
 */
import { checkClient, type RedisClient } from "../client/client.ts";
import { RedsyncError, SemaphoreMismatchError } from "../errors.ts";
import { backoff, delay } from "../_internal/async.ts";
import { checkInteger } from "../_internal/validate.ts";
import { typed } from "../_internal/transient.ts";
import type { Lease } from "./lease.ts";
import { checkName, keysOf, type LockKeys } from "./keys.ts";
import {
  type AcquireOptions,
  type LockOptions,
  type ResolvedLockOptions,
  resolveLockOptions,
  toAcquireOptions,
} from "./options.ts";
import { engineOf, LockPrimitive, setUpEngine } from "./primitive.ts";
import type { RunOptions } from "./run_exclusive.ts";
import { INIT } from "./scripts.ts";

/** Most permits a semaphore may have. */
export const MAX_PERMITS = 100_000;

const DAY_MS = 86_400_000;

/** Options of {@linkcode Semaphore.attach}. */
export interface SemaphoreOptions extends LockOptions {
  /**
   * How long Redis keeps an idle semaphore's definition (its permit count)
   * after its last use, in ms. Every acquire refreshes it.
   * @default {604800000} (7 days)
   */
  idleTtlMs?: number;
}

/** Options of {@linkcode Semaphore.create}. */
export interface SemaphoreCreateOptions extends SemaphoreOptions {
  /** Number of permits, 1..100000. */
  permits: number;
  /**
   * How the count is stored the first time: `"script"` (one atomic Lua
   * script) or `"transaction"` (WATCH/MULTI/EXEC, for servers where
   * scripting is restricted; acquiring still needs scripts).
   * @default {"script"}
   */
  init?: "script" | "transaction";
}

/** Options of {@linkcode Semaphore.attach} with its signal. */
export interface SemaphoreAttachOptions extends SemaphoreOptions {
  /**
   * Stops waiting for the semaphore to be created: `attach()` rejects with
   * `signal.reason`.
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/** Options of {@linkcode Semaphore.acquire}. */
export interface SemaphoreAcquireOptions extends AcquireOptions {
  /**
   * Permits to take at once, 1..count. Waiters are served in arrival order,
   * so a large request is not starved by small ones.
   * @default {1}
   */
  permits?: number;
}

/**
 * At most `permits` holders at a time. Create it once (idempotent) with
 * {@linkcode Semaphore.create}, or join one another process created with
 * {@linkcode Semaphore.attach}. Holders that die free their permits when
 * their lease ends; waiters block in Redis and are handed permits in
 * arrival order.
 *
 * @example
 * ```ts
 * import { connect, Semaphore } from "@redsync/core";
 * await using redis = await connect();
 * const pool = await Semaphore.create(redis, "partner-api", { permits: 5 });
 * await using permit = await pool.acquire({ signal: AbortSignal.timeout(10_000) });
 * // at most 5 of these run at once, across every process
 * ```
 */
export class Semaphore
  extends LockPrimitive<RunOptions & { permits?: number; meta?: string }> {
  /** The number of permits. */
  readonly permits: number;

  private constructor(
    client: RedisClient,
    name: string,
    permits: number,
    options: ResolvedLockOptions,
    idleTtlMs: number,
  ) {
    super(name);
    this.permits = permits;
    setUpEngine(this, {
      client,
      limit: permits,
      keepMeta: true,
      idleTtlMs,
      options,
    });
  }

  /**
   * Defines the semaphore with `permits` permits, or joins it when it exists
   * with the same count (idempotent: every worker may call it). Rejects with
   * `SemaphoreMismatchError` when it exists with another count.
   *
   * @example
   * ```ts
   * import { connect, Semaphore } from "@redsync/core";
   * await using redis = await connect();
   * const pool = await Semaphore.create(redis, "db-pool", { permits: 10, leaseMs: 60_000 });
   * console.log(pool.permits); // 10
   * ```
   */
  static async create(
    client: RedisClient,
    name: string,
    options: SemaphoreCreateOptions,
  ): Promise<Semaphore> {
    const action = "create a semaphore";
    checkClient(action, client);
    checkName(action, name);
    if (typeof options !== "object" || options === null) {
      throw new TypeError(
        `Cannot ${action} as 'options' must be an object with 'permits': current value is ${
          String(options)
        }`,
      );
    }
    const { permits, init = "script", idleTtlMs = 7 * DAY_MS } = options;
    checkInteger(action, "permits", permits, 1, MAX_PERMITS);
    checkInteger(action, "idleTtlMs", idleTtlMs, 1_000, 2 ** 31 - 1);
    if (init !== "script" && init !== "transaction") {
      throw new TypeError(
        `Cannot ${action} as 'init' must be "script" or "transaction": current value is ${
          JSON.stringify(init)
        }`,
      );
    }
    const resolved = resolveLockOptions(action, options);
    const keys = keysOf(resolved.prefix, name);
    const stored = await typed(
      init === "script"
        ? INIT.run(client, keys.script, [permits, idleTtlMs, "semaphore"])
        : initWithTransaction(client, keys, permits, idleTtlMs),
      () => client.closed,
    );
    if (stored !== permits) {
      throw new SemaphoreMismatchError(name, stored, permits);
    }
    return new Semaphore(client, name, permits, resolved, idleTtlMs);
  }

  /**
   * Joins a semaphore that another process creates, without knowing its
   * count: waits until it exists (checking with backoff, 50 ms up to 1 s),
   * or until `signal` aborts.
   *
   * @example
   * ```ts
   * import { connect, Semaphore } from "@redsync/core";
   * await using redis = await connect();
   * const worker = await Semaphore.attach(redis, "partner-api", AbortSignal.timeout(60_000));
   * console.log(`${worker.permits} permits`);
   * ```
   */
  static async attach(
    client: RedisClient,
    name: string,
    signal?: AbortSignal | SemaphoreAttachOptions,
  ): Promise<Semaphore> {
    const action = "attach to a semaphore";
    checkClient(action, client);
    checkName(action, name);
    const options = toAcquireOptions<SemaphoreAttachOptions>(action, signal);
    const { idleTtlMs = 7 * DAY_MS, signal: abort } = options;
    checkInteger(action, "idleTtlMs", idleTtlMs, 1_000, 2 ** 31 - 1);
    const resolved = resolveLockOptions(action, options);
    const meta = keysOf(resolved.prefix, name).meta;
    for (const pauseMs of backoff({ minMs: 50, maxMs: 1_000 })) {
      abort?.throwIfAborted();
      const stored = await typed(
        client.command(["HGET", meta, "permits"], { signal: abort }),
        () => client.closed,
      );
      if (stored !== null) {
        const permits = Number(stored);
        if (!Number.isInteger(permits) || permits < 1) {
          throw new RedsyncError(
            `Semaphore '${name}' has a corrupt permit count: ${String(stored)}`,
          );
        }
        return new Semaphore(client, name, permits, resolved, idleTtlMs);
      }
      await delay(pauseMs, abort);
    }
    throw new RangeError("unreachable: backoff() never ends");
  }

  /**
   * Waits for permits and resolves with their lease. Rejects with
   * `signal.reason` when the signal aborts; an aborted acquire never keeps a
   * permit.
   *
   * @example
   * ```ts
   * import { connect, Semaphore } from "@redsync/core";
   * await using redis = await connect();
   * const pool = await Semaphore.create(redis, "gpu", { permits: 4 });
   * await using two = await pool.acquire({
   *   permits: 2,
   *   signal: AbortSignal.timeout(30_000),
   *   meta: `${Deno.hostname()} pid ${Deno.pid}`,
   * });
   * ```
   */
  override acquire(
    signal?: AbortSignal | SemaphoreAcquireOptions,
  ): Promise<Lease> {
    let weight: number;
    let abort: AbortSignal | undefined;
    let meta: string | undefined;
    try {
      ({ weight, abort, meta } = this.#acquireArgs("acquire", signal));
    } catch (error) {
      return Promise.reject(error);
    }
    const engine = engineOf(this);
    return engine.acquire(weight, "wait", abort, meta) as Promise<Lease>;
  }

  /**
   * Takes permits if they are free right now (and nobody queues ahead);
   * resolves `undefined` otherwise. Never waits for permits: its round
   * trips to Redis are bounded by `signal` (then it rejects with
   * `signal.reason`) and by the client's `commandTimeoutMs`, within which
   * it retries while Redis cannot answer (unreachable, `LOADING`, `BUSY`,
   * a failover), then rejects with `RedisUnavailableError`.
   *
   * @example
   * ```ts
   * import { connect, Semaphore } from "@redsync/core";
   * await using redis = await connect();
   * const pool = await Semaphore.create(redis, "exports", { permits: 2 });
   * await using permit = await pool.tryAcquire();
   * if (!permit) console.log("busy: try later");
   * ```
   */
  override tryAcquire(
    signal?: AbortSignal | SemaphoreAcquireOptions,
  ): Promise<Lease | undefined> {
    let weight: number;
    let abort: AbortSignal | undefined;
    let meta: string | undefined;
    try {
      ({ weight, abort, meta } = this.#acquireArgs("tryAcquire", signal));
    } catch (error) {
      return Promise.reject(error);
    }
    return engineOf(this).acquire(weight, "try", abort, meta);
  }

  #acquireArgs(
    action: string,
    input: AbortSignal | SemaphoreAcquireOptions | undefined,
  ): { weight: number; abort: AbortSignal | undefined; meta?: string } {
    const { permits = 1, signal, meta } = toAcquireOptions<
      SemaphoreAcquireOptions
    >(action, input);
    checkInteger(action, "permits", permits, 1, this.permits);
    return { weight: permits, abort: signal, meta };
  }
}

/** Stores the count with WATCH/MULTI/EXEC: no Lua. Retries on conflict. */
async function initWithTransaction(
  client: RedisClient,
  keys: LockKeys,
  permits: number,
  idleTtlMs: number,
): Promise<number> {
  const { meta } = keys;
  const [holders, , queue] = keys.script;
  for (let attempt = 0; attempt < 20; attempt++) {
    const stored = await client.exclusive(async (send) => {
      await send("WATCH", meta, holders, queue);
      const existing = await send("HGET", meta, "permits");
      if (existing !== null) {
        await send("UNWATCH");
        return Number(existing);
      }
      // In use without a stored count: a mutex, so one permit.
      const [seconds, micros] = await send("TIME") as [string, string];
      const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      const live = await send("ZCOUNT", holders, `(${now}`, "+inf");
      if (Number(live) > 0 || Number(await send("ZCARD", queue)) > 0) {
        await send("UNWATCH");
        return 1;
      }
      await send("MULTI");
      await send("HSET", meta, "permits", permits, "kind", "semaphore");
      await send("PEXPIRE", meta, idleTtlMs);
      const committed = await send("EXEC");
      return committed === null ? undefined : permits;
    });
    if (stored !== undefined) return stored;
  }
  throw new RedsyncError(
    `Cannot create semaphore as its definition kept changing under WATCH (20 attempts)`,
  );
}
