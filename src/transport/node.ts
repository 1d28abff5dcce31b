/**
 * Transport over Node's `node:net` and `node:tls` (also used by runtimes
 * that implement them).
 *
 * @module
 */
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type {
  Connector,
  Transport,
  TransportHandlers,
  TransportOptions,
} from "./types.ts";

/**
 * Connects with `node:net`, or `node:tls` when `options.tls` is set.
 *
 * @example Force the Node transport
 * ```ts
 * import { connect } from "@redsync/core";
 * import { nodeConnector } from "@redsync/core/transport";
 * await using redis = await connect({ port: 6379, connector: nodeConnector });
 * ```
 */
export const nodeConnector: Connector = (
  options: TransportOptions,
  handlers: TransportHandlers,
): Promise<Transport> => {
  const { hostname, port, tls, signal } = options;
  signal?.throwIfAborted();
  return new Promise<Transport>((resolve, reject) => {
    const socket: Socket = tls
      ? tlsConnect({
        host: hostname,
        port,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        servername: tls.servername ?? (isIP(hostname) ? undefined : hostname),
      })
      : netConnect({ host: hostname, port });
    const readyEvent = tls ? "secureConnect" : "connect";
    const onAbort = () => {
      cleanup();
      socket.destroy();
      reject(signal?.reason);
    };
    const onError = (error: Error) => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onReady = () => {
      cleanup();
      resolve(new NodeTransport(socket, handlers));
    };
    const cleanup = () => {
      signal?.removeEventListener("abort", onAbort);
      socket.off("error", onError);
      socket.off(readyEvent, onReady);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("error", onError);
    socket.once(readyEvent, onReady);
  });
};

/**
 * How long a closing socket waits for the server to close its side (after
 * reading everything sent) before it is destroyed anyway.
 */
const LINGER_MS = 1_000;

class NodeTransport implements Transport {
  #socket: Socket;
  #closed = false;
  #error: Error | undefined;
  #linger: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: Socket, handlers: TransportHandlers) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on("data", (chunk: Uint8Array) => {
      if (!this.#closed) handlers.onData(chunk);
    });
    socket.on("error", (error: Error) => {
      this.#error ??= error;
    });
    socket.on("close", () => {
      clearTimeout(this.#linger);
      if (this.#closed) return;
      this.#closed = true;
      handlers.onClose(this.#error);
    });
  }

  write(bytes: Uint8Array): void {
    if (!this.#closed) this.#socket.write(bytes);
  }

  close(): void {
    // Send what is queued and end the sending side only: the server reads
    // every command sent, then closes its side, which closes the socket.
    // Destroying it while answers are still unread would reset the
    // connection, and the server could drop commands it had not read yet
    // (a lock release written just before the close). LINGER_MS bounds the
    // wait for a server that does not answer.
    if (this.#linger !== undefined || this.#closed) return;
    this.#linger = setTimeout(() => this.#socket.destroy(), LINGER_MS);
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}
