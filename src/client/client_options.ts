/**
 * The settings `RedisClient` methods take: per command, at close, and what
 * the primitives register to be shut down before a close.
 *
 * @module
 */

/** Per-command settings for `RedisClient.command`. */
export interface CommandOptions {
  /**
   * Aborts the wait: the promise rejects with `signal.reason`. A blocking
   * command is unblocked on the server, and if it was served anyway its
   * reply is returned, so no popped element is ever lost.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Return bulk strings as `Uint8Array` instead of `string`.
   * @default {false}
   */
  bytes?: boolean;
  /**
   * Run on a connection of the blocking pool. Detected from the command name
   * (`BLPOP`, `BZPOPMIN`, `WAIT`, `XREAD ... BLOCK`, ...) when absent.
   * @default {undefined}
   */
  blocking?: boolean;
}

/** Settings for `RedisClient.close`. */
export interface CloseOptions {
  /**
   * Release every lease this client holds and withdraw its waiting
   * acquires (they reject with a `ConnectionError`) before the connections
   * close, so their permits are free at once rather than after their leases.
   * @default {true}
   */
  release?: boolean;
  /**
   * Most time the releases may take (Redis unreachable) before the
   * connections close anyway, in milliseconds.
   * @default {2000}
   */
  timeoutMs?: number;
}

/** Something that holds or waits through a client: shut down before it closes. */
export interface Closable {
  /** Rejects pending waits with `reason`, releases what is held. */
  shutdown(reason: Error): Promise<void>;
}
