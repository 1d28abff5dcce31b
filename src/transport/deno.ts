/**
 * Transport over Deno's own sockets (`Deno.connect` / `Deno.connectTls`).
 *
 * @module
 */
import { abortable } from "../_internal/async.ts";
import type {
  Connector,
  Transport,
  TransportHandlers,
  TransportOptions,
} from "./types.ts";

const READ_BUFFER_SIZE = 64 * 1024;
/**
 * How long a closing socket waits for the server to close its side (after
 * reading everything sent) before it is closed anyway.
 */
const LINGER_MS = 1_000;

/**
 * Connects with `Deno.connect`, or `Deno.connectTls` when `options.tls` is set.
 *
 * @example Force the Deno transport
 * ```ts
 * import { connect } from "@redsync/core";
 * import { denoConnector } from "@redsync/core/transport";
 * await using redis = await connect({ port: 6379, connector: denoConnector });
 * ```
 */
export const denoConnector: Connector = async (
  options: TransportOptions,
  handlers: TransportHandlers,
): Promise<Transport> => {
  const { hostname, port, tls, signal } = options;
  signal?.throwIfAborted();
  if (!tls) {
    const conn = await Deno.connect({ hostname, port, signal });
    conn.setNoDelay(true);
    conn.setKeepAlive(true);
    return new DenoTransport(conn, handlers);
  }
  const caCerts = tls.ca === undefined ? undefined : [tls.ca].flat();
  const clientCert = tls.cert !== undefined && tls.key !== undefined;
  if (tls.servername !== undefined && tls.servername !== hostname) {
    // Another name than the address: TCP to the address, then TLS with the
    // name (SNI and certificate check), which connectTls cannot do.
    if (clientCert) {
      throw new TypeError(
        "Cannot connect as Deno cannot combine 'tls.servername' with a client certificate: connect by that name instead, or use nodeConnector",
      );
    }
    const tcp = await Deno.connect({ hostname, port, signal });
    const starting = Deno.startTls(tcp, { hostname: tls.servername, caCerts });
    return await finishTls(starting, signal, handlers, () => closeQuietly(tcp));
  }
  const pending = clientCert
    ? Deno.connectTls({ hostname, port, caCerts, cert: tls.cert, key: tls.key })
    : Deno.connectTls({ hostname, port, caCerts });
  return await finishTls(pending, signal, handlers, () => {});
};

/**
 * Waits for a TLS connection and its handshake, racing the signal (neither
 * takes one): a connection that lands after the abort is closed.
 */
async function finishTls(
  pending: Promise<Deno.TlsConn>,
  signal: AbortSignal | undefined,
  handlers: TransportHandlers,
  onFailedStart: () => void,
): Promise<Transport> {
  const conn = await abortable(pending, signal, () => {
    pending.then(closeQuietly, onFailedStart);
  });
  try {
    await abortable(conn.handshake(), signal, () => {});
  } catch (error) {
    closeQuietly(conn);
    throw error;
  }
  return new DenoTransport(conn, handlers);
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

class DenoTransport implements Transport {
  #conn: Deno.Conn;
  #handlers: TransportHandlers;
  #queue: Uint8Array[] = [];
  #writing = false;
  /** Set once close() was called or a write failed; reads then end. */
  #closing = false;
  #writeError: Error | undefined;
  #linger: ReturnType<typeof setTimeout> | undefined;

  constructor(conn: Deno.Conn, handlers: TransportHandlers) {
    this.#conn = conn;
    this.#handlers = handlers;
    this.#readLoop();
  }

  write(bytes: Uint8Array): void {
    if (this.#closing) return;
    this.#queue.push(bytes);
    if (!this.#writing) this.#writeLoop();
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    // With writes still queued, the write loop half-closes once they are out.
    if (!this.#writing) this.#halfClose();
  }

  destroy(): void {
    this.#closing = true;
    this.#queue = [];
    closeQuietly(this.#conn); // a pending write fails, the read ends
  }

  /**
   * Ends the sending side only: the server reads every command sent, then
   * closes its side, which ends the read loop (that closes the socket).
   * Closing outright while answers are still unread would reset the
   * connection, and the server could drop commands it had not read yet
   * (a lock release written just before the close). `LINGER_MS` bounds the
   * wait for a server that does not answer.
   */
  #halfClose(): void {
    this.#linger ??= setTimeout(() => closeQuietly(this.#conn), LINGER_MS);
    this.#conn.closeWrite().catch(() => closeQuietly(this.#conn));
  }

  async #writeLoop(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#writeError) {
        const chunk = this.#queue.length === 1
          ? this.#queue[0]
          : concat(this.#queue);
        this.#queue = [];
        let offset = 0;
        while (offset < chunk.length) {
          offset += await this.#conn.write(chunk.subarray(offset));
        }
      }
    } catch (error) {
      if (!this.#closing) this.#writeError = error as Error;
    } finally {
      this.#writing = false;
      if (this.#writeError) {
        this.#closing = true;
        this.#queue = [];
        closeQuietly(this.#conn);
      } else if (this.#closing) {
        this.#halfClose();
      }
    }
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_SIZE);
    let error: Error | undefined;
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        this.#handlers.onData(buffer.subarray(0, n));
      }
    } catch (caught) {
      error = caught as Error;
    }
    const wasClosing = this.#closing;
    this.#closing = true;
    clearTimeout(this.#linger);
    closeQuietly(this.#conn);
    this.#handlers.onClose(
      this.#writeError ?? (wasClosing ? undefined : error),
    );
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const c of chunks) size += c.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
