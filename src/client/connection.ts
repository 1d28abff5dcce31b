/**
 * One connection to one Redis server: the handshake, implicit pipelining (a
 * FIFO of pending replies), writes (the process's first command of a tick
 * at once, the rest of the tick coalesced per connection), and the command
 * timeout. It knows nothing of reconnecting or pools: the client does that.
 *
 * @module
 */
import { abortable, deferred } from "../_internal/async.ts";
import { ConnectionError, RedisReplyError } from "../errors.ts";
import type { ResolvedOptions } from "./options.ts";
import { Fifo } from "../_internal/fifo.ts";
import { CommandWriter } from "../resp/encoder.ts";
import { RespDecoder } from "../resp/decoder.ts";
import type { RedisArg, RedisReply } from "../resp/types.ts";
import { defaultConnector } from "../transport/mod.ts";
import { runHandshake } from "./handshake.ts";
import { notResp, openTransport } from "./probe.ts";
import type { Transport } from "../transport/types.ts";

interface Pending {
  resolve(reply: RedisReply): void;
  reject(error: Error): void;
  /** Bulk strings of this reply come back as bytes. */
  bytes: boolean;
  /** `performance.now()` after which the connection is declared dead. */
  deadline: number;
  /** The timeout that set `deadline`, for the message. */
  timeoutMs: number;
  /** Settled early (aborted): its reply is read and dropped. */
  settled: boolean;
}

/** Per-request settings. */
export interface RequestOptions {
  /** Bulk strings as `Uint8Array`. */
  bytes?: boolean;
  /**
   * Ms after which a missing reply declares the connection dead
   * (`Infinity`: never). Defaults to `commandTimeoutMs`.
   */
  timeoutMs?: number;
  /** Rejects the request early with `signal.reason`; its reply is dropped. */
  signal?: AbortSignal;
}

/** What a connection is opened for. */
export interface OpenOptions {
  /** Ask `CLIENT ID` during the handshake (blocking connections need it). */
  wantId?: boolean;
  /** Called once when the connection ends for any reason but `close()`. */
  onLost?: (error: ConnectionError) => void;
  /**
   * Receives replies no command waits for (a RESP2 subscriber's messages);
   * without it such a reply is a protocol error.
   */
  onUnsolicited?: (reply: RedisReply) => void;
}

/**
 * Whether a connection of this process has written a command at once in
 * the current tick (see `Connection.#written`): one per tick keeps Redis
 * busy while the process works through its replies; one per connection
 * cost many connections an extra write each. Cleared by a microtask queued
 * with that write.
 */
let wroteAtOnce = false;
const endOfTick = (): void => {
  wroteAtOnce = false;
};

/** One socket to Redis with its handshake done. */
export class Connection {
  readonly #options: ResolvedOptions;
  readonly #writer = new CommandWriter();
  readonly #pending = new Fifo<Pending>();
  readonly #decoder: RespDecoder;
  #transport: Transport | undefined;
  #flushScheduled = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closedError: ConnectionError | undefined;
  #closedPromise = deferred<void>();
  #onLost: ((error: ConnectionError) => void) | undefined;
  #onUnsolicited: ((reply: RedisReply) => void) | undefined;
  /** The first bytes received, until a reply decodes (for `notResp`). */
  #firstBytes: Uint8Array | undefined;
  #replied = false;
  /** Protocol spoken after the handshake. */
  protocol: 2 | 3 = 2;
  /** The server's major version, when `INFO` told it. */
  major: number | undefined;
  /** `CLIENT ID` when asked for and permitted. */
  id: number | undefined;
  /**
   * SHA-1s of the scripts sent on this connection with `EVAL` (or run by
   * `EVALSHA`): a fresh connection (after a reconnect, a restart, a
   * failover) sends each script whole once, then by digest.
   */
  readonly scripts: Set<string> = new Set();

  private constructor(options: ResolvedOptions) {
    this.#options = options;
    this.#decoder = new RespDecoder({
      onReply: (reply) => this.#onReply(reply),
      bytesForNext: () => this.#pending.peek()?.bytes ?? false,
    }, {
      maxBulkBytes: options.maxBulkBytes,
      maxAggregateLength: options.maxAggregateLength,
    });
  }

  /**
   * Opens a connection and runs the handshake (HELLO or AUTH, SETNAME,
   * SELECT, CLIENT ID) within `connectTimeoutMs`; rejects with
   * `ConnectionError` (or the caller's `signal.reason`).
   */
  static async open(
    options: ResolvedOptions,
    openOptions: OpenOptions = {},
    signal?: AbortSignal,
  ): Promise<Connection> {
    const connection = new Connection(options);
    const timeout = AbortSignal.timeout(options.connectTimeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const where = options.display;
    try {
      const connector = options.connector ?? defaultConnector();
      const { hostname, port } = await options.target.resolve(combined);
      connection.#transport = await openTransport(
        connector,
        { hostname, port },
        options.tls,
        combined,
        {
          onData: (chunk) => connection.#onData(chunk),
          onClose: (error) => connection.#onTransportClose(error),
        },
        where,
      );
      const handshake = runHandshake(
        (args) => connection.request(args),
        options,
        openOptions.wantId ?? false,
      ).then(({ protocol, id, major }) => {
        connection.protocol = protocol;
        connection.id = id;
        connection.major = major;
      });
      handshake.catch(() => {}); // settles after the close when the race is lost
      await abortable(handshake, combined);
    } catch (error) {
      await connection.close();
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) {
        throw new ConnectionError(
          `Cannot connect to ${where}: no answer within ${options.connectTimeoutMs} ms`,
          { cause: error },
        );
      }
      if (error instanceof ConnectionError) throw error;
      throw new ConnectionError(
        `Cannot connect to ${where}: ${describe(error)}`,
        { cause: error },
      );
    }
    connection.#onLost = openOptions.onLost;
    connection.#onUnsolicited = openOptions.onUnsolicited;
    return connection;
  }

  /** Why the connection is closed, or `undefined` while it is open. */
  get closedError(): ConnectionError | undefined {
    return this.#closedError;
  }

  /** Number of replies still awaited. */
  get inFlight(): number {
    return this.#pending.length;
  }

  /**
   * Sends one command; the reply comes back in order with the others. Error
   * replies reject with `RedisReplyError`.
   */
  request(
    args: readonly RedisArg[],
    options?: RequestOptions,
  ): Promise<RedisReply> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#writer.add(args); // throws TypeError on a bad argument, writes nothing
    const { promise, resolve, reject } = deferred<RedisReply>();
    const timeoutMs = options?.timeoutMs ?? this.#options.commandTimeoutMs;
    const entry: Pending = {
      resolve,
      reject,
      bytes: options?.bytes ?? false,
      deadline: performance.now() + timeoutMs,
      timeoutMs,
      settled: false,
    };
    this.#pending.push(entry);
    this.#written();
    if (this.#timer === undefined && entry.deadline !== Infinity) {
      this.#armTimer(entry.deadline - performance.now());
    }
    if (!signal) return promise;
    const onAbort = () => {
      if (entry.settled) return;
      entry.settled = true;
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    return promise.finally(() => signal.removeEventListener("abort", onAbort));
  }

  /**
   * Writes a command whose answers no request waits for: they reach
   * `onUnsolicited` (a subscriber's commands). Throws `ConnectionError`
   * when the connection is closed.
   */
  send(args: readonly RedisArg[]): void {
    if (this.#closedError) throw this.#closedError;
    this.#writer.add(args);
    this.#written();
  }

  /**
   * A command was added to the writer: the first of a tick in this process
   * is written at once, the others of the same tick together at its end
   * (one write per connection, a microtask). Redis starts on the first
   * while this process still works through the rest of the replies it just
   * read; with every command of a tick in one write, the two took turns
   * (about a third fewer lock cycles per second with 16 or 64 loops on one
   * connection: Redis sat idle while the client worked, and the other way
   * round). One such write per tick for the whole process (`wroteAtOnce`):
   * with one each, 32 connections in a process paid a second write per
   * connection and tick (two processes of 32 connections: about 20% more
   * client CPU per lock cycle, medians of 5 alternating runs 32.6 against
   * 25.8 us). Order is kept: both writes go out in the order of the calls,
   * on this connection.
   */
  #written(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    if (!wroteAtOnce && this.#transport && !this.#closedError) {
      wroteAtOnce = true;
      queueMicrotask(endOfTick);
      this.#transport.write(this.#writer.take());
    }
    queueMicrotask(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#writer.size > 0 && !this.#closedError) {
      this.#transport?.write(this.#writer.take());
    }
  };

  #armTimer(ms: number): void {
    this.#timer = setTimeout(this.#checkTimeout, Math.max(1, Math.ceil(ms)));
  }

  readonly #checkTimeout = (): void => {
    this.#timer = undefined;
    const head = this.#pending.peek();
    if (!head || head.deadline === Infinity) return;
    const left = head.deadline - performance.now();
    if (left > 0) {
      this.#armTimer(left);
      return;
    }
    this.#fail(
      new ConnectionError(
        `Command to ${this.#options.display} got no reply within ${
          Math.round(head.timeoutMs)
        } ms; the connection was reset`,
      ),
    );
  };

  #onData(chunk: Uint8Array): void {
    if (this.#closedError) return; // a dead connection decodes nothing more
    if (!this.#replied) this.#firstBytes ??= chunk.slice(0, 8);
    try {
      this.#decoder.push(chunk);
    } catch (error) {
      const where = this.#options.display;
      // Nothing decoded yet: not a Redis (an HTTP or TLS server, say).
      const message = this.#replied || !this.#firstBytes
        ? `Protocol error from ${where}: ${describe(error)}`
        : `Cannot connect to ${where}: the server ${notResp(this.#firstBytes)}`;
      this.#fail(new ConnectionError(message, { cause: error }));
    }
  }

  #onReply(reply: RedisReply | ConnectionError): void {
    this.#replied = true;
    this.#firstBytes = undefined;
    const entry = this.#pending.shift();
    if (!entry && this.#onUnsolicited && !(reply instanceof ConnectionError)) {
      this.#onUnsolicited(reply);
      return;
    }
    if (!entry) {
      throw new Error("a reply arrived that no command waits for");
    }
    if (
      reply instanceof RedisReplyError && reply.code === "READONLY" &&
      this.#options.target.primaryOnly
    ) {
      // The primary was demoted: this command failed like the connection
      // (a transient error, retried by waits), and the connection is
      // dropped so that its successor resolves the new primary.
      const lost = new ConnectionError(
        `${this.#options.display}: the server is no longer the primary (READONLY)`,
        { cause: reply },
      );
      queueMicrotask(() => this.#fail(lost));
      reply = lost;
    }
    if (entry.settled) return;
    entry.settled = true;
    if (reply instanceof RedisReplyError || reply instanceof ConnectionError) {
      entry.reject(reply);
    } else entry.resolve(reply);
  }

  #onTransportClose(error?: Error): void {
    this.#fail(
      new ConnectionError(
        `Connection to ${this.#options.display} closed${
          error ? `: ${describe(error)}` : ""
        }`,
        { cause: error },
      ),
    );
    this.#closedPromise.resolve();
  }

  /** Marks the connection dead, rejects every pending reply, closes the socket. */
  #fail(error: ConnectionError, graceful = false): void {
    if (this.#closedError) return;
    this.#closedError = error;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const entry of this.#pending.drain()) {
      if (entry.settled) continue;
      entry.settled = true;
      entry.reject(error);
    }
    this.#writer.take();
    // Nothing of a partial reply (a bulk string on its way) stays reachable.
    this.#decoder.reset();
    // A broken connection must not deliver commands late (after their
    // callers were told they failed): drop what is queued. A close asked for
    // by the client sends it first.
    if (graceful || !this.#transport?.destroy) this.#transport?.close();
    else this.#transport.destroy();
    if (!this.#transport) this.#closedPromise.resolve();
    const onLost = this.#onLost;
    this.#onLost = undefined;
    onLost?.(error);
  }

  /**
   * Ends the connection as if it had been lost (its `onLost` runs, so its
   * owner reconnects): to move off a server that is no longer the one.
   */
  drop(reason: string): void {
    this.#fail(new ConnectionError(reason));
  }

  /**
   * Closes the socket; pending replies reject with `ConnectionError`. The
   * promise resolves once the socket is closed.
   */
  close(
    reason = `Connection to ${this.#options.display} closed by the client`,
  ): Promise<void> {
    this.#onLost = undefined;
    this.#flush(); // commands already issued (a lock release) still go out
    this.#fail(new ConnectionError(reason), true);
    return this.#closedPromise.promise;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code)
      ? `${code} ${error.message}`
      : error.message;
  }
  return String(error);
}
