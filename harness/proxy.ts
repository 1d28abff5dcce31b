/**
 * A TCP proxy on 127.0.0.1 for fault tests: it forwards to a Redis server,
 * and `freeze()` makes every connection open now half-open (nothing is
 * forwarded any more, in either direction, and nothing is closed), as a NAT
 * or load balancer that silently dropped its state would. Connections made
 * after `freeze()` work normally. Uses `node:net`, so it runs on Deno, Bun
 * and Node.
 *
 * @module
 */
import { type AddressInfo, connect, createServer, type Socket } from "node:net";

/** A running proxy. */
export interface Proxy {
  /** `redis://127.0.0.1:<port>` of the proxy. */
  readonly url: string;
  /** Connections made through it so far. */
  readonly accepted: number;
  /** Stops forwarding on every open connection, without closing any. */
  freeze(): void;
  /**
   * Stops forwarding on the replication links only (those a replica opened:
   * they started with `REPLCONF`/`PSYNC`), silently: the replica sees no
   * error, and what the primary writes from now on never reaches it.
   */
  freezeReplication(): void;
  /** Closes everything. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket;
  frozen: boolean;
  /** A replica's link (it sent REPLCONF or PSYNC). */
  replication: boolean;
}

/** Starts a proxy to `127.0.0.1:targetPort`. */
export async function startProxy(targetPort: number): Promise<Proxy> {
  const links = new Set<Link>();
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    const upstream = connect({ host: "127.0.0.1", port: targetPort });
    const link: Link = { client, upstream, frozen: false, replication: false };
    links.add(link);
    client.on("data", (chunk) => {
      if (!link.replication && /REPLCONF|PSYNC/i.test(String(chunk))) {
        link.replication = true;
      }
      if (!link.frozen) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!link.frozen) client.write(chunk);
    });
    const end = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", () => {});
    upstream.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const close = async () => {
    for (const { client, upstream } of links) {
      client.destroy();
      upstream.destroy();
    }
    links.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    freeze() {
      for (const link of links) link.frozen = true;
    },
    freezeReplication() {
      for (const link of links) if (link.replication) link.frozen = true;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
