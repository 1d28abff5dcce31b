/**
 * The client's main connection and nothing else: it keeps one pipelined
 * connection open, re-opens it with exponential backoff and jitter when it
 * drops, lets commands wait for the reconnect up to `commandTimeoutMs`, and
 * tells listeners when it is back. Commands in flight when it drops fail:
 * they are never re-sent (a re-sent `INCR` or lock script could run twice).
 *
 * @module
 */
import { abortable, backoff, deferred, pause } from "../_internal/async.ts";
import { ConnectionError } from "../errors.ts";
import { Connection } from "./connection.ts";
import type { ResolvedOptions } from "./options.ts";

interface ReadyWaiter {
  resolve(connection: Connection): void;
  reject(error: unknown): void;
}

/** The reconnecting main connection of one client. */
export class MainLink {
  readonly #options: ResolvedOptions;
  /** Called once when the link gives up for good (`reconnect: false`). */
  readonly #onGiveUp: (error: ConnectionError) => void;
  #connection: Connection | undefined;
  #closed = false;
  #reconnecting: Promise<void> | undefined;
  #reconnectAbort: AbortController | undefined;
  #lastError: ConnectionError | undefined;
  /** Never connected (a `lazy` client): commands do not wait through backoff. */
  #failFast = false;
  /** A connection attempt of the reconnect loop is under way. */
  #attempting = false;
  readonly #readyWaiters = new Set<ReadyWaiter>();
  readonly #onReconnect = new Set<() => void>();

  constructor(
    options: ResolvedOptions,
    onGiveUp: (error: ConnectionError) => void,
  ) {
    this.#options = options;
    this.#onGiveUp = onGiveUp;
  }

  /** Opens the first connection (rejects as `connect()` does). */
  async open(): Promise<void> {
    this.#connection = await this.#openConnection();
  }

  /**
   * Connects in the background, retrying with backoff like a reconnect
   * (a cluster node the client learned of, or one down at first).
   * `failFast` (a `lazy` client): until the first connection, commands
   * wait only for an attempt under way, else reject at once.
   */
  openLater(failFast = false): void {
    if (this.#closed || this.connection) return;
    this.#failFast = failFast;
    this.#reconnecting ??= this.#reconnectLoop(true);
  }

  /**
   * Not connected yet, and an attempt under way that a command waits for
   * (a `lazy` client before its first connection).
   */
  get connecting(): boolean {
    return this.#failFast && this.#attempting;
  }

  /** The open connection, or `undefined` while reconnecting. */
  get connection(): Connection | undefined {
    const connection = this.#connection;
    return connection && !connection.closedError ? connection : undefined;
  }

  /** Calls `listener` after each reconnect; returns the unsubscribe. */
  onReconnect(listener: () => void): () => void {
    this.#onReconnect.add(listener);
    return () => this.#onReconnect.delete(listener);
  }

  /** The connection once (re)connected, within the command timeout. */
  whenReady(signal: AbortSignal | undefined): Promise<Connection> {
    const open = this.connection;
    if (open) return Promise.resolve(open);
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#failFast && !this.#attempting) {
      return Promise.reject(this.#notConnectedError());
    }
    const { promise, resolve, reject } = deferred<Connection>();
    const waiter: ReadyWaiter = { resolve, reject };
    this.#readyWaiters.add(waiter);
    const timeout = AbortSignal.timeout(this.#options.commandTimeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    return abortable(promise, combined).catch((error) => {
      if (signal?.aborted || !timeout.aborted) throw error;
      throw new ConnectionError(
        `Not connected to ${this.#options.display} within ${this.#options.commandTimeoutMs} ms${
          this.#lastError ? `: ${this.#lastError.message}` : ""
        }`,
        { cause: this.#lastError },
      );
    }).finally(() => this.#readyWaiters.delete(waiter));
  }

  #openConnection(signal?: AbortSignal): Promise<Connection> {
    return Connection.open(this.#options, {
      onLost: (error) => this.#onLost(error),
    }, signal);
  }

  #onLost(error: ConnectionError): void {
    this.#connection = undefined;
    this.#lastError = error;
    if (this.#closed) return;
    if (this.#options.reconnect === false) {
      this.#closed = true;
      this.#rejectWaiters(error);
      this.#onGiveUp(error);
      return;
    }
    this.#reconnecting ??= this.#reconnectLoop();
  }

  /** Exponential backoff with "equal" jitter until connected or closed. */
  async #reconnectLoop(now = false): Promise<void> {
    const reconnect = this.#options.reconnect;
    if (reconnect === false) return;
    const abort = new AbortController();
    this.#reconnectAbort = abort;
    try {
      const delays = backoff({
        minMs: reconnect.minDelayMs,
        maxMs: reconnect.maxDelayMs,
        jitter: 0.5,
      });
      for (const delay of delays) {
        if (this.#closed) return;
        if (!now && !(await pause(delay, abort.signal))) return;
        now = false;
        try {
          let connection: Connection;
          this.#attempting = true;
          try {
            connection = await this.#openConnection(abort.signal);
          } finally {
            this.#attempting = false;
          }
          if (this.#closed) {
            await connection.close();
            return;
          }
          this.#connection = connection;
          this.#lastError = undefined;
          this.#failFast = false;
          for (const waiter of this.#readyWaiters) waiter.resolve(connection);
          this.#readyWaiters.clear();
          for (const listener of this.#onReconnect) guard(listener);
          return;
        } catch (error) {
          if (abort.signal.aborted) return;
          if (error instanceof ConnectionError) this.#lastError = error;
          // Not connected yet: what waited for this attempt fails now.
          if (this.#failFast) this.#rejectWaiters(this.#notConnectedError());
        }
      }
    } finally {
      this.#reconnecting = undefined;
      this.#reconnectAbort = undefined;
    }
  }

  #rejectWaiters(error: unknown): void {
    for (const waiter of this.#readyWaiters) waiter.reject(error);
    this.#readyWaiters.clear();
  }

  /** A `lazy` client that has not connected yet, between attempts. */
  #notConnectedError(): ConnectionError {
    const last = this.#lastError;
    return new ConnectionError(
      `Not connected to ${this.#options.display} yet (connecting in the background)${
        last ? `: ${last.message}` : ""
      }`,
      { cause: last },
    );
  }

  #closedError(): ConnectionError {
    return new ConnectionError(`Client for ${this.#options.display} is closed`);
  }

  /** Drops the connection as if lost: the link reconnects (re-resolving). */
  drop(reason: string): void {
    this.#connection?.drop(reason);
  }

  /** Closes the connection; waiters reject with `ConnectionError`. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#reconnectAbort?.abort();
    this.#rejectWaiters(this.#closedError());
    const connection = this.#connection;
    this.#connection = undefined;
    await Promise.all([
      connection?.close(`Client for ${this.#options.display} closed`),
      this.#reconnecting,
    ]);
  }
}

/** Runs `fn`, reporting what it throws instead of throwing it. */
function guard(fn: () => void): void {
  try {
    fn();
  } catch (error) {
    reportError(error);
  }
}
