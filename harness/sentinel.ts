/**
 * A Sentinel topology for the tests, all on 127.0.0.1: one primary and one
 * replica (private redis-servers from `startRedis`) and three sentinels
 * (`redis-server <conf> --sentinel`, quorum 2, `down-after-milliseconds`
 * 1000), stopped by `close()` (or `await using`). The primary and the
 * replica emulate the server profile (`harness/profiles.ts`, `profile` or
 * `REDSYNC_REDIS_PROFILE`); the sentinels do not (a sentinel has no data
 * commands to take away, and the library asks it the same in every
 * version: `SENTINEL GET-MASTER-ADDR-BY-NAME`, `SUBSCRIBE +switch-master`).
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "../mod.ts";
import { type RedisServer, startRedis } from "./server.ts";
import { type Proxy, startProxy } from "./proxy.ts";
import { freePort } from "./ports.ts";
import { waitForReplicas } from "./replication.ts";
import type { Profile } from "./profiles.ts";

/** The running topology. */
export interface SentinelTopology {
  readonly name: string;
  readonly primary: RedisServer;
  readonly replica: RedisServer;
  /** `host:port` of each sentinel. */
  readonly sentinels: string[];
  /** `redis+sentinel://...` for connect(). */
  readonly url: string;
  /**
   * With `replicationProxy`: the primary is known (to the sentinels, the
   * replica and the clients) at this TCP proxy's address, so that
   * `freezeReplication()` can stop replication silently (the replica sees
   * no error): writes made after it are lost when the primary dies.
   */
  readonly replication?: Proxy;
  /** The port the sentinels report as the primary now. */
  primaryPort(): Promise<number>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the topology and waits until the sentinels agree on the primary. */
export async function startSentinels(
  name = "mymaster",
  options: { replicationProxy?: boolean; profile?: Profile } = {},
): Promise<SentinelTopology> {
  const primary = await startRedis({
    args: ["--repl-diskless-sync-delay", "0"],
    profile: options.profile,
  });
  const replication = options.replicationProxy
    ? await startProxy(primary.port)
    : undefined;
  // With the proxy, the primary's address is the proxy's for everyone (the
  // sentinels would otherwise "fix" a replica pointed elsewhere).
  const upstream = replication
    ? Number(new URL(replication.url).port)
    : primary.port;
  const replica = await startRedis({
    args: ["--replicaof", "127.0.0.1", String(upstream)],
    profile: options.profile,
  });
  const dir = await mkdtemp(join(tmpdir(), "redsync-sentinel-"));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const close = async () => {
    for (const child of children) {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    await Promise.all(
      children.map((child) =>
        child.exitCode !== null ? undefined : new Promise((resolve) => {
          child.once("exit", resolve);
        })
      ),
    );
    await rm(dir, { recursive: true, force: true });
    await replica.stop();
    await primary.stop();
    await replication?.close();
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${port}.conf`);
      await writeFile(
        conf,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${upstream} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
          "",
        ].join("\n"),
      );
      const child = spawn("redis-server", [conf, "--sentinel"], {
        stdio: "ignore",
      });
      children.push(child);
      ports.push(port);
    }
    const sentinels = ports.map((port) => `127.0.0.1:${port}`);
    const primaryPort = async () => {
      await using probe = await connect({
        port: ports[0],
        connectTimeoutMs: 2_000,
        reconnect: false,
      });
      const reply = await probe.send(
        "SENTINEL",
        "get-master-addr-by-name",
        name,
      ) as [string, string];
      return Number(reply[1]);
    };
    // Ready: every sentinel answers, knows the replica and the others.
    const deadline = performance.now() + 20_000;
    for (;;) {
      const ready = await Promise.all(ports.map(async (port) => {
        try {
          await using probe = await connect({
            port,
            connectTimeoutMs: 1_000,
            reconnect: false,
          });
          const replicas = await probe.send("SENTINEL", "replicas", name);
          const peers = await probe.send("SENTINEL", "sentinels", name);
          return Array.isArray(replicas) && replicas.length >= 1 &&
            Array.isArray(peers) && peers.length >= 2;
        } catch {
          return false;
        }
      }));
      if (ready.every(Boolean)) break;
      if (performance.now() > deadline) {
        throw new Error("the sentinels did not come up within 20 s");
      }
      await delay(100);
    }
    // Acknowledged writes, not only a link "online" (tests count on WAIT).
    await waitForReplicas(primary.port);
    return {
      name,
      primary,
      replica,
      sentinels,
      replication,
      url: `redis+sentinel://${sentinels.join(",")}/${name}`,
      primaryPort,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
