/**
 * The contract between the portable client and a runtime's sockets. One small
 * file per runtime implements {@linkcode Connector}; nothing else in `src/`
 * touches a runtime global.
 *
 * @module
 */

/** TLS settings for `rediss://` connections. */
export interface TlsOptions {
  /**
   * PEM certificate(s) of the authorities to trust instead of the system's.
   * @default {undefined}
   */
  ca?: string | string[];
  /**
   * PEM client certificate, for servers that demand one (`tls-auth-clients`).
   * @default {undefined}
   */
  cert?: string;
  /**
   * PEM private key of the client certificate.
   * @default {undefined}
   */
  key?: string;
  /**
   * Name to verify the server certificate against (SNI).
   * @default {the host name}
   */
  servername?: string;
}

/** Where and how a transport connects. */
export interface TransportOptions {
  /** Host name or IP address. */
  hostname: string;
  /** TCP port. */
  port: number;
  /** TLS settings; plain TCP when absent. */
  tls?: TlsOptions;
  /** Aborts the connection attempt (the client's connect timeout). */
  signal?: AbortSignal;
}

/** Callbacks a transport calls; they must never throw into the transport. */
export interface TransportHandlers {
  /** Bytes arrived from the server, in order. The chunk may be reused after the call returns only if the transport says so; the client copies what it keeps. */
  onData(chunk: Uint8Array): void;
  /** The connection ended (`error` absent on a clean close). Called at most once. */
  onClose(error?: Error): void;
}

/** One open connection. */
export interface Transport {
  /** Queues bytes to send, in order. Never throws; failures surface via `onClose`. */
  write(bytes: Uint8Array): void;
  /**
   * Closes the connection after the bytes already queued by `write` are
   * sent (they may be the last commands of a closing client, such as a lock
   * release) and read by the server: it ends the sending side only, and the
   * socket closes when the server closes its side (closing outright with
   * answers unread would reset the connection, and the server could drop
   * what it had not read yet), or after a bounded wait; `onClose` follows.
   * Safe to call twice.
   */
  close(): void;
  /**
   * Closes at once, dropping queued bytes (the connection is known to be
   * broken, or must not deliver late commands); `onClose` follows. Falls back
   * to `close()` where absent.
   */
  destroy?(): void;
}

/**
 * Opens a transport. Rejects when the connection cannot be made or when
 * `options.signal` aborts first (with `signal.reason`).
 *
 * @example A transport that wraps another (for example to count bytes)
 * ```ts
 * import { connect, type Connector } from "@redsync/core";
 * import { defaultConnector } from "@redsync/core/transport";
 * let sent = 0;
 * const counting: Connector = async (options, handlers) => {
 *   const inner = await defaultConnector()(options, handlers);
 *   return { write: (b) => { sent += b.length; inner.write(b); }, close: () => inner.close() };
 * };
 * await using redis = await connect({ port: 6379, connector: counting });
 * ```
 */
export type Connector = (
  options: TransportOptions,
  handlers: TransportHandlers,
) => Promise<Transport>;
