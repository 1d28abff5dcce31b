/**
 * Transport over Bun's own sockets (`Bun.connect`).
 *
 * @module
 */
import { abortable, deferred } from "../_internal/async.ts";
import type {
  Connector,
  Transport,
  TransportHandlers,
  TransportOptions,
} from "./types.ts";

/** The part of Bun's socket API this transport uses. */
interface BunSocket {
  write(data: Uint8Array): number;
  end(): void;
  /** Ends the sending side only (`shutdown(2)`); reads go on. */
  shutdown?(halfClose?: boolean): void;
  terminate?(): void;
  setNoDelay?(noDelay: boolean): void;
  setKeepAlive?(enable: boolean, initialDelay?: number): boolean;
}

interface BunSocketHandler {
  data(socket: BunSocket, data: Uint8Array): void;
  drain(socket: BunSocket): void;
  close(socket: BunSocket, error?: Error): void;
  error(socket: BunSocket, error: Error): void;
  end(socket: BunSocket): void;
  /** TLS only: the handshake ended (`success` false: failed). */
  handshake(
    socket: BunSocket,
    success: boolean,
    authorizationError: Error | null,
  ): void;
}

interface BunGlobal {
  connect(options: {
    hostname: string;
    port: number;
    tls?: {
      ca?: string | string[];
      cert?: string;
      key?: string;
      serverName?: string;
      rejectUnauthorized?: boolean;
    };
    socket: BunSocketHandler;
  }): Promise<BunSocket>;
}

/**
 * Connects with `Bun.connect` (TLS when `options.tls` is set).
 *
 * @example Force the Bun transport
 * ```ts
 * import { connect } from "@redsync/core";
 * import { bunConnector } from "@redsync/core/transport";
 * await using redis = await connect({ port: 6379, connector: bunConnector });
 * ```
 */
export const bunConnector: Connector = async (
  options: TransportOptions,
  handlers: TransportHandlers,
): Promise<Transport> => {
  const { hostname, port, tls, signal } = options;
  signal?.throwIfAborted();
  const bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;
  const transport = new BunTransport(handlers);
  const pending = bun.connect({
    hostname,
    port,
    // rejectUnauthorized is always set: Bun 1.x speaks plain TCP when
    // every field of the tls object is undefined (a bare rediss:// URL).
    tls: tls && {
      rejectUnauthorized: true,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      serverName: tls.servername ??
        (/^[\d.]+$|:/.test(hostname) ? undefined : hostname),
    },
    socket: transport.socketHandler,
  });
  // A connect that lands after the abort is closed at once.
  const socket = await abortable(pending, signal, () => {
    pending.then((s) => s.terminate?.() ?? s.end(), () => {});
  });
  if (tls) {
    // Bun.connect resolves once TCP is up: wait for the TLS handshake,
    // so that its failure is the connect's (not a silent close later).
    try {
      await abortable(transport.handshaken, signal);
    } catch (error) {
      socket.terminate?.() ?? socket.end();
      throw error;
    }
  }
  socket.setNoDelay?.(true);
  socket.setKeepAlive?.(true, 30_000);
  transport.attach(socket);
  return transport;
};

/**
 * How long a closing socket waits for the server to close its side (after
 * reading everything sent) before it is closed anyway.
 */
const LINGER_MS = 1_000;

class BunTransport implements Transport {
  #handlers: TransportHandlers;
  #socket: BunSocket | undefined;
  /** Bytes the socket did not take yet, sent on `drain`. */
  #backlog: Uint8Array[] = [];
  #closed = false;
  /** close() was called: end the socket once the backlog is out. */
  #closing = false;
  #linger: ReturnType<typeof setTimeout> | undefined;
  #handshake = deferred<void>();
  /** Settles when the TLS handshake ends; rejects if it fails or closes. */
  readonly handshaken: Promise<void> = this.#handshake.promise;

  readonly socketHandler: BunSocketHandler;

  constructor(handlers: TransportHandlers) {
    this.#handlers = handlers;
    this.socketHandler = {
      data: (_socket, data) => {
        if (!this.#closed) this.#handlers.onData(data);
      },
      drain: () => this.#flushBacklog(),
      close: (_socket, error) => this.#finish(error),
      error: (_socket, error) => this.#finish(error),
      end: () => this.#finish(),
      handshake: (_socket, success, authorizationError) => {
        if (success && !authorizationError) this.#handshake.resolve();
        else {
          this.#handshake.reject(
            authorizationError ?? new Error("TLS handshake failed"),
          );
        }
      },
    };
    this.handshaken.catch(() => {});
  }

  attach(socket: BunSocket): void {
    this.#socket = socket;
    if (this.#closed || this.#closing) this.#halfClose();
  }

  write(bytes: Uint8Array): void {
    if (this.#closed || this.#closing || !this.#socket) return;
    if (this.#backlog.length > 0) {
      this.#backlog.push(bytes);
      return;
    }
    const written = this.#socket.write(bytes);
    if (written < bytes.length) {
      this.#backlog.push(bytes.subarray(Math.max(written, 0)));
    }
  }

  close(): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    if (!this.#socket) this.#finish();
    else if (this.#backlog.length === 0) this.#halfClose();
  }

  /**
   * Ends the sending side only: the server reads every command sent, then
   * closes its side (the `end` handler). Closing outright while answers
   * are still unread would reset the connection, and the server could drop
   * commands it had not read yet (a lock release written just before the
   * close). `LINGER_MS` bounds the wait for a server that does not answer.
   */
  #halfClose(): void {
    const socket = this.#socket;
    if (!socket || this.#linger !== undefined) return;
    this.#linger = setTimeout(() => {
      if (socket.terminate) socket.terminate();
      else socket.end();
      this.#finish();
    }, LINGER_MS);
    if (socket.shutdown) socket.shutdown();
    else socket.end();
  }

  destroy(): void {
    this.#backlog = [];
    if (this.#socket) {
      if (this.#socket.terminate) this.#socket.terminate();
      else this.#socket.end();
    }
    this.#finish();
  }

  #flushBacklog(): void {
    const socket = this.#socket;
    while (socket && this.#backlog.length > 0 && !this.#closed) {
      const chunk = this.#backlog[0];
      const written = socket.write(chunk);
      if (written < chunk.length) {
        this.#backlog[0] = chunk.subarray(Math.max(written, 0));
        return;
      }
      this.#backlog.shift();
    }
    if (this.#closing && this.#backlog.length === 0) this.#halfClose();
  }

  #finish(error?: Error): void {
    clearTimeout(this.#linger);
    this.#handshake.reject(
      error ?? new Error("the connection closed during the TLS handshake"),
    );
    if (this.#closed) return;
    this.#closed = true;
    this.#backlog = [];
    this.#handlers.onClose(error);
  }
}
