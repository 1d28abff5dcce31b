/**
 * What the lock primitives use of a client beyond its public methods
 * (reached through `internalsOf(client)`; not public API).
 *
 * @module
 */
import type { BuildWrite, PrimaryNode, WakeSource } from "./topology.ts";
import type { Closable } from "./client_options.ts";
import type { RedisArg, RedisReply } from "../resp/types.ts";

/** What the primitives use of a client beyond its public methods. */
export interface ClientInternals {
  /**
   * The client's wake-up hub (created on first use). Throws like
   * `checkOpen()` once `close()` has begun.
   */
  hub(): WakeSource;
  /**
   * Throws `ConnectionError` once `close()` has begun: `close()` shuts down
   * what waits or holds when it starts, so nothing new may start after.
   */
  checkOpen(): void;
  /** See `Topology.wakePrefix`: where scripts wake this client's waiters. */
  wakePrefix(prefix: string, base: string): string;
  /** Calls `listener` after each reconnect of the main connection. */
  onReconnect(listener: () => void): () => void;
  /** Aborts when the client closes (ends background retries). */
  readonly closing: AbortSignal;
  /** The client's `commandTimeoutMs` (bounds `tryAcquire()`'s retries). */
  readonly commandTimeoutMs: number;
  /** The database it selects (0 on a cluster). */
  readonly db: number;
  /** It talks to a Redis Cluster: each key's node, not one server. */
  readonly cluster: boolean;
  /**
   * The server's `maxmemory-policy`, asked once per client; `undefined`
   * when it cannot be read (`CONFIG` renamed or not permitted).
   */
  evictionPolicy(): Promise<string | undefined>;
  /**
   * The loggers already warned that the server may evict lock keys: one
   * warning per client and logger, however many primitive objects (one per
   * request is common) share them.
   */
  readonly evictionWarned: WeakSet<object>;
  /**
   * The scripts the main connection a command on `key` goes to has been
   * sent (see `Connection.scripts`), or `undefined` while it reconnects.
   */
  loadedScripts(key: RedisArg | undefined): Set<string> | undefined;
  /** See `Topology.connecting`: a `lazy` client's first attempt under way. */
  connecting(key: RedisArg | undefined): boolean;
  /** Every primary (one, unless the client talks to a cluster). */
  primaries(): Promise<PrimaryNode[]>;
  /**
   * Registers a primitive that holds or waits now: `close()` shuts it down
   * first. Returns the unregister function (call it once idle).
   */
  track(closable: Closable): () => void;
  /** A write and `WAIT` on one connection: see `Topology.writeThenWait`. */
  writeThenWait(
    key: RedisArg,
    build: BuildWrite,
    wait: readonly RedisArg[],
    signal: AbortSignal | undefined,
  ): Promise<[RedisReply, RedisReply]>;
}
