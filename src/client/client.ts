/**
 * The Redis client: one pipelined connection for ordinary commands, a small
 * pool for blocking ones, and reconnection with backoff and jitter. It
 * checks each command and picks its kind; the `Topology` it is built from
 * (chosen by `connect()`) picks the connection.
 *
 * @module
 */
import {
  isBlockingCommand,
  isSubscriberCommand,
  isWaitCommand,
  stateCommandRefusal,
} from "./commands.ts";
import type { Topology, TopologyFactory } from "./topology.ts";
import { ConnectionError } from "../errors.ts";
import type {
  Closable,
  CloseOptions,
  CommandOptions,
} from "./client_options.ts";
import type { ResolvedOptions } from "./options.ts";
import type { RedisArg, RedisReply } from "../resp/types.ts";
import type { ClientInternals } from "./client_internals.ts";

export type { ClientInternals } from "./client_internals.ts";

/** Set by `RedisClient`'s static block: its constructor stays private. */
let open: (
  options: ResolvedOptions,
  topology: TopologyFactory,
) => Promise<RedisClient>;

let internals: (client: RedisClient) => ClientInternals;
let isClient: (value: unknown) => value is RedisClient;

/**
 * @internal The parts of `client` the primitives use (not public API).
 * Throws `TypeError` for anything but a client (see `checkClient`).
 */
export function internalsOf(client: RedisClient): ClientInternals {
  return internals(checkClient("reach Redis", client));
}

/**
 * @internal Throws a `TypeError` naming `field` unless `value` is a
 * {@linkcode RedisClient} (from `connect()`); returns it.
 */
export function checkClient(
  action: string,
  value: unknown,
  field = "client",
): RedisClient {
  if (isClient(value)) return value;
  throw new TypeError(
    `Cannot ${action} as '${field}' must be a RedisClient from connect(): current value is ${
      value === null || typeof value !== "object"
        ? String(value)
        : `an object (${value.constructor?.name ?? "no prototype"})`
    }`,
  );
}

/**
 * A connection to one Redis server. Create it with `connect()`.
 *
 * Concurrent commands are pipelined on one socket and written together
 * within a tick; replies come back in order. Blocking commands run on a
 * pool of their own. When the socket drops, commands in flight reject with
 * `ConnectionError` (never re-sent), and new ones wait for the reconnect up
 * to `commandTimeoutMs`.
 *
 * @example
 * ```ts
 * import { connect } from "@redsync/core";
 * await using redis = await connect("redis://127.0.0.1:6379");
 * await redis.send("SET", "greeting", "hello");
 * console.log(await redis.send("GET", "greeting")); // "hello"
 * ```
 */
export class RedisClient implements AsyncDisposable {
  readonly #options: ResolvedOptions;
  readonly #topology: Topology;
  #closed = false;
  /** `close()` has begun: new acquires and waits are refused. */
  #shuttingDown = false;
  readonly #closing = new AbortController();
  #internals: ClientInternals | undefined;
  #policy: Promise<string | undefined> | undefined;
  readonly #tracked = new Set<Closable>();
  #closingDone: Promise<void> | undefined;

  private constructor(options: ResolvedOptions, topology: TopologyFactory) {
    this.#options = options;
    // Without reconnects, a lost main connection ends the client.
    this.#topology = topology(() => {
      this.#closed = true;
      this.#closing.abort();
    });
  }

  static {
    isClient = (value): value is RedisClient =>
      typeof value === "object" && value !== null && #topology in value;
    open = async (options, topology) => {
      const client = new RedisClient(options, topology);
      await client.#topology.open();
      return client;
    };
    internals = (client) =>
      client.#internals ??= {
        hub: () => {
          client.#checkOpen();
          return client.#topology.hub();
        },
        checkOpen: () => client.#checkOpen(),
        wakePrefix: (prefix, base) => client.#topology.wakePrefix(prefix, base),
        onReconnect: (listener) => client.#topology.onReconnect(listener),
        closing: client.#closing.signal,
        commandTimeoutMs: client.#options.commandTimeoutMs,
        db: client.#options.db,
        cluster: client.#topology.cluster,
        loadedScripts: (key) => client.#topology.loadedScripts(key),
        connecting: (key) => client.#topology.connecting?.(key) ?? false,
        primaries: () => client.#topology.primaries(),
        track: (closable) => {
          client.#tracked.add(closable);
          return () => client.#tracked.delete(closable);
        },
        writeThenWait: (key, build, wait, signal) =>
          client.#closed
            ? Promise.reject(client.#closedError())
            : client.#topology.writeThenWait(key, build, wait, signal),
        evictionWarned: new WeakSet(),
        evictionPolicy: () =>
          client.#policy ??= client.command([
            "CONFIG",
            "GET",
            "maxmemory-policy",
          ])
            .then((reply) => {
              const value = reply instanceof Map
                ? reply.get("maxmemory-policy")
                : (reply as unknown[])?.[1];
              return typeof value === "string" ? value : undefined;
            }, (error) => {
              // Not connected (a `lazy` client, an outage): ask next time.
              if (error instanceof ConnectionError) client.#policy = undefined;
              return undefined;
            }),
      };
  }

  /** The server's address without credentials, e.g. `redis://127.0.0.1:6379`. */
  get url(): string {
    return this.#options.display;
  }

  /**
   * Protocol version of the main connection: 3 where the server has it (2
   * while a `lazy` client has not connected yet).
   */
  get protocol(): 2 | 3 {
    return this.#topology.protocol;
  }

  /** `true` once {@linkcode RedisClient.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one command and resolves with its decoded reply: strings,
   * numbers, `null`, arrays, and with RESP3 also `Map`, `Set`, booleans,
   * doubles and `bigint`s. An error reply rejects with `RedisReplyError`.
   *
   * @example
   * ```ts
   * import { connect } from "@redsync/core";
   * await using redis = await connect();
   * const n = await redis.send("INCR", "visits"); // a number
   * ```
   */
  send(command: string, ...args: RedisArg[]): Promise<RedisReply> {
    return this.command([command, ...args]);
  }

  /**
   * Like {@linkcode RedisClient.send}, with bulk strings as `Uint8Array`
   * (binary-safe values).
   *
   * @example
   * ```ts
   * import { connect } from "@redsync/core";
   * await using redis = await connect();
   * await redis.send("SET", "blob", new Uint8Array([0, 255, 13, 10]));
   * const bytes = await redis.sendBytes("GET", "blob"); // Uint8Array [0, 255, 13, 10]
   * ```
   */
  sendBytes(command: string, ...args: RedisArg[]): Promise<RedisReply> {
    return this.command([command, ...args], { bytes: true });
  }

  /**
   * Sends one command given as an array, with options: an `AbortSignal`,
   * bytes mode, or an explicit choice of the blocking pool.
   *
   * @example Stop waiting on a list after 2 seconds, losing nothing
   * ```ts
   * import { connect } from "@redsync/core";
   * await using redis = await connect();
   * try {
   *   const item = await redis.command(["BLPOP", "jobs", 0], {
   *     signal: AbortSignal.timeout(2_000),
   *   });
   *   console.log(item); // ["jobs", "<element>"]
   * } catch (error) {
   *   if ((error as Error).name !== "TimeoutError") throw error;
   * }
   * ```
   */
  command(
    args: readonly RedisArg[],
    options?: CommandOptions,
  ): Promise<RedisReply> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (typeof args[0] !== "string" || args[0] === "") {
      return Promise.reject(
        new TypeError(
          `Cannot send as the command name must be a non-empty string: current value is ${
            JSON.stringify(args[0])
          }`,
        ),
      );
    }
    if (isSubscriberCommand(args[0])) {
      return Promise.reject(
        new TypeError(
          `Cannot send ${
            args[0]
          } as it turns the connection into a subscriber, which this client does not support: use a separate client for pub/sub`,
        ),
      );
    }
    const refusal = stateCommandRefusal(args);
    if (refusal !== undefined) {
      return Promise.reject(
        new TypeError(
          `Cannot send ${
            args[0]
          } on the shared connection as it changes that connection's state for every caller: ${refusal}`,
        ),
      );
    }
    const bytes = options?.bytes ?? false;
    const signal = options?.signal;
    // WAIT/WAITAOF count the writes of the connection they run on: ours.
    if (isWaitCommand(args)) return this.#topology.wait(args, signal);
    if (options?.blocking ?? isBlockingCommand(args)) {
      return this.#topology.blocking(args, bytes, signal);
    }
    return this.#topology.request(args, bytes, signal);
  }

  /**
   * Runs `fn` with a connection of its own, which no other command uses
   * meanwhile: what `WATCH`/`MULTI`/`EXEC` need. `send` applies the command
   * timeout. If `fn` throws, the connection is closed rather than reused.
   *
   * @example Optimistic locking
   * ```ts
   * import { connect } from "@redsync/core";
   * await using redis = await connect();
   * const committed = await redis.exclusive(async (send) => {
   *   await send("WATCH", "balance");
   *   const balance = Number(await send("GET", "balance") ?? 0);
   *   await send("MULTI");
   *   await send("SET", "balance", balance + 10);
   *   return (await send("EXEC")) !== null; // null: someone changed it first
   * });
   * ```
   */
  exclusive<T>(
    fn: (send: (...args: RedisArg[]) => Promise<RedisReply>) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closedError());
    return this.#topology.exclusive(fn, signal);
  }

  #closedError(): ConnectionError {
    return new ConnectionError(`Client for ${this.#options.display} is closed`);
  }

  #checkOpen(): void {
    if (this.#closed) throw this.#closedError();
    if (this.#shuttingDown) {
      throw new ConnectionError(
        `Client for ${this.#options.display} is closing: no acquire or wait may start through it`,
      );
    }
  }

  /**
   * Closes the client: first releases every lease it holds and withdraws
   * its waiting acquires (unless `release: false`; within `timeoutMs`),
   * then closes every connection. Commands still waiting reject with
   * `ConnectionError`, and so do acquires and waits started once it has
   * begun. Calling it again waits for the first call.
   *
   * @example
   * ```ts
   * import { connect } from "@redsync/core";
   * const redis = await connect();
   * await redis.close();
   * ```
   *
   * @example Shutting down on SIGTERM/SIGINT (Deno; in Node and Bun, `process.on`)
   * ```ts
   * import { connect } from "@redsync/core";
   * const redis = await connect();
   * for (const signal of ["SIGINT", "SIGTERM"] as const) {
   *   Deno.addSignalListener(signal, async () => {
   *     await redis.close({ timeoutMs: 2_000 }); // permits free at once
   *     Deno.exit(0);
   *   });
   * }
   * ```
   */
  close(options: CloseOptions = {}): Promise<void> {
    const timeoutMs = options?.timeoutMs;
    if (
      timeoutMs !== undefined &&
      !(Number.isInteger(timeoutMs) && timeoutMs >= 0)
    ) {
      return Promise.reject(
        new RangeError(
          `Cannot close as 'timeoutMs' must be an integer >= 0: current value is ${timeoutMs}`,
        ),
      );
    }
    return this.#closingDone ??= this.#close(options ?? {});
  }

  async #close(options: CloseOptions): Promise<void> {
    const { release = true, timeoutMs = 2_000 } = options;
    this.#shuttingDown = true;
    if (release && this.#tracked.size > 0 && !this.#closed) {
      const reason = new ConnectionError(
        `Client for ${this.#options.display} is closing`,
      );
      const all = Promise.allSettled(
        [...this.#tracked].map((closable) => closable.shutdown(reason)),
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        all,
        new Promise((resolve) => timer = setTimeout(resolve, timeoutMs)),
      ]);
      clearTimeout(timer);
    }
    this.#closed = true;
    this.#closing.abort();
    await this.#topology.close();
  }

  /** Same as {@linkcode RedisClient.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * @internal Opens a client on the topology `connect()` chose, with the
 * settings every topology shares (see `connect()`).
 */
export function openClient(
  options: ResolvedOptions,
  topology: TopologyFactory,
): Promise<RedisClient> {
  return open(options, topology);
}
