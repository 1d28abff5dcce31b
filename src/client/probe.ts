/**
 * What a server that does not answer as expected is: a plain-TCP Redis
 * behind a `rediss://` URL (its TLS handshake never answers), or a server
 * that does not speak RESP at all (HTTP, TLS). For clear connect errors.
 *
 * @module
 */
import { abortable, deferred } from "../_internal/async.ts";
import { ConnectionError } from "../errors.ts";
import type {
  Connector,
  TlsOptions,
  Transport,
  TransportHandlers,
} from "../transport/types.ts";

/**
 * How long a TLS handshake may go unanswered before a plain connection
 * asks whether the server speaks plain RESP (a plain Redis reads a TLS
 * ClientHello as the start of a command and waits for its end).
 */
const TLS_PROBE_AFTER_MS = 1_000;

/**
 * Opens a transport; with TLS, a server that answers plain RESP instead
 * (found by a plain `PING` once the handshake is slow or has failed) fails
 * the attempt at once with a `ConnectionError` that says so.
 */
export async function openTransport(
  connector: Connector,
  address: { hostname: string; port: number },
  tls: TlsOptions | undefined,
  signal: AbortSignal,
  handlers: TransportHandlers,
  display: string,
): Promise<Transport> {
  const { hostname, port } = address;
  if (!tls) return await connector({ hostname, port, signal }, handlers);
  const mismatch = new AbortController();
  const probeEnd = new AbortController();
  const probeSignal = AbortSignal.any([signal, probeEnd.signal]);
  let probing: Promise<boolean> | undefined;
  const probe = () =>
    probing ??= answersPlainResp(connector, address, probeSignal).then(
      (plain) => {
        if (plain) {
          mismatch.abort(
            new ConnectionError(
              `Cannot connect to ${display}: the TLS handshake failed, and the server answers plain RESP: is it serving TLS? Use redis:// for plain TCP`,
            ),
          );
        }
        return plain;
      },
    );
  const timer = setTimeout(probe, TLS_PROBE_AFTER_MS);
  try {
    return await connector({
      hostname,
      port,
      tls,
      signal: AbortSignal.any([signal, mismatch.signal]),
    }, handlers);
  } catch (error) {
    if (mismatch.signal.aborted) throw mismatch.signal.reason;
    if (signal.aborted) throw error;
    // A TLS failure (a plain Redis may answer the ClientHello with an
    // error line, or close): say so if the server speaks plain RESP.
    if (await probe()) {
      const reason = mismatch.signal.reason as ConnectionError;
      throw new ConnectionError(reason.message, { cause: error });
    }
    throw error;
  } finally {
    clearTimeout(timer);
    probeEnd.abort();
    await probing;
  }
}

/**
 * Whether a plain-TCP connection to `address` is answered like Redis
 * (`+PONG` or an error line such as `-NOAUTH`) when it sends `PING`.
 * Never throws: anything else is `false`.
 */
async function answersPlainResp(
  connector: Connector,
  address: { hostname: string; port: number },
  signal: AbortSignal,
): Promise<boolean> {
  const answer = deferred<boolean>();
  let text = "";
  let transport: Transport | undefined;
  try {
    transport = await connector({ ...address, signal }, {
      onData: (chunk) => {
        text += String.fromCharCode(...chunk.subarray(0, 64));
        if (text.includes("\r\n") || text.length >= 64) {
          answer.resolve(/^[+-][^\r\n]*\r\n/.test(text));
        }
      },
      onClose: () => answer.resolve(false),
    });
    transport.write(new TextEncoder().encode("PING\r\n"));
    return await abortable(answer.promise, signal);
  } catch {
    return false;
  } finally {
    if (transport?.destroy) transport.destroy();
    else transport?.close();
  }
}

/**
 * Why the first bytes a server sent are not RESP, for the message: HTTP,
 * TLS, or the first byte.
 */
export function notResp(first: Uint8Array): string {
  const start = String.fromCharCode(...first.subarray(0, 5));
  if (start === "HTTP/") {
    return "does not speak RESP (it answered like HTTP): is this the Redis port?";
  }
  if (first[0] === 0x15 || first[0] === 0x16) {
    return "does not speak RESP (it answered like TLS): use rediss:// for TLS";
  }
  return `does not speak RESP (its first byte is 0x${
    (first[0] ?? 0).toString(16).padStart(2, "0")
  }): is this the Redis port?`;
}
