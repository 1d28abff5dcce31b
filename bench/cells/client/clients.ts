/**
 * The clients the client cell compares, behind one small interface: ours,
 * ioredis (at its defaults, and with auto-pipelining) and node-redis, each
 * on one connection.
 *
 * @module
 */
import { connect } from "../../../mod.ts";
import { createNodeRedis, IoRedis, VERSIONS } from "../../shared/npm.ts";

/** The part of every client the cell uses. */
export interface BenchedClient {
  readonly name: string;
  ping(): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
  close(): Promise<void>;
}

/** The part of ioredis' `Redis` the benchmark uses. */
interface IoRedisLike {
  connect(): Promise<void>;
  ping(): Promise<string>;
  set(key: string, value: string): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** The part of node-redis' client the benchmark uses. */
interface NodeRedisLike {
  connect(): Promise<unknown>;
  ping(): Promise<string>;
  set(key: string, value: string): Promise<unknown>;
  quit(): Promise<unknown>;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/** Ours, one connection. */
export async function openOurs(url: string): Promise<BenchedClient> {
  const redis = await connect(url);
  return {
    name: "@redsync/core",
    ping: () => redis.send("PING"),
    set: (key, value) => redis.send("SET", key, value),
    close: () => redis.close(),
  };
}

/** ioredis at its defaults, or with `enableAutoPipelining`. */
export async function openIoRedis(
  url: string,
  autoPipelining = false,
): Promise<BenchedClient> {
  const redis: IoRedisLike = new IoRedis(url, {
    lazyConnect: true,
    enableAutoPipelining: autoPipelining,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  await redis.connect();
  return {
    name: `ioredis ${VERSIONS.ioredis}${
      autoPipelining ? " (enableAutoPipelining)" : ""
    }`,
    ping: () => redis.ping(),
    set: (key, value) => redis.set(key, value),
    close: async () => {
      try {
        await redis.quit();
      } finally {
        redis.disconnect();
      }
    },
  };
}

/** node-redis at its defaults (no reconnect). */
export async function openNodeRedis(url: string): Promise<BenchedClient> {
  const client: NodeRedisLike = createNodeRedis({
    url,
    socket: { reconnectStrategy: false },
  });
  client.on("error", () => {}); // surfaced by the rejected commands
  await client.connect();
  return {
    name: `node-redis ${VERSIONS.nodeRedis}`,
    ping: () => client.ping(),
    set: (key, value) => client.set(key, value),
    close: async () => {
      await client.quit();
    },
  };
}
