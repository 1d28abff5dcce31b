/**
 * A Redis Cluster topology for the tests, all on 127.0.0.1: `primaries`
 * primaries with `replicasPerPrimary` replicas each (`redis-server` with
 * cluster options, joined by `redis-cli --cluster create`), with helpers to
 * kill nodes, fail over and reshard a slot; stopped by `close()` (or
 * `await using`). A `sh` watchdog SIGKILLs the nodes and removes the temp dir
 * if this process dies first. Commands go through `redis-cli`, so the harness
 * does not depend on the client under test.
 *
 * With `proxyPrimaries`, each primary is reachable through a TCP proxy
 * (`harness/proxy.ts`) for everyone: it announces the proxy's port
 * (`--cluster-announce-port`, and its real bus port as
 * `--cluster-announce-bus-port`, so the cluster bus is not proxied), so its
 * replica replicates through the proxy and `proxyOf(port).freezeReplication()`
 * silently stops that shard's replication and nothing else.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type Proxy, startProxy } from "./proxy.ts";
import { freePorts } from "./ports.ts";
import { waitForReplicas } from "./replication.ts";
import { requireRedisServer } from "./server.ts";
import {
  activeProfile,
  defaultUserRule,
  type Profile,
  profileArgs,
} from "./profiles.ts";

/** How to start a cluster. */
export interface ClusterOptions {
  /** At least 3. @default {3} */
  primaries?: number;
  /** @default {1} */
  replicasPerPrimary?: number;
  /** `cluster-node-timeout`. @default {1000} */
  nodeTimeoutMs?: number;
  /**
   * Start each primary-to-be behind a TCP proxy of its own, announced as
   * its address (`--cluster-announce-port`; the bus is not proxied): the
   * other nodes, its replica (whose replication link goes through the
   * proxy) and the clients (through `url` and the slot map) all reach it
   * there. `primaries()`, `ownerOf()`, `nodes` etc. still give real ports;
   * `proxyOf(port)` gives the proxy. @default {false}
   */
  proxyPrimaries?: boolean;
  /**
   * The server profile every node emulates (`harness/profiles.ts`).
   * @default {process.env.REDSYNC_REDIS_PROFILE, else "7.0"}
   */
  profile?: Profile;
}

/** One `redis-server` of the cluster. */
export interface ClusterNode {
  readonly port: number;
  readonly process: ChildProcess;
  /** False once killed (or exited). */
  readonly alive: boolean;
}

/** A primary serving slots, as a live node sees it. */
export interface ClusterPrimary {
  port: number;
  id: string;
  /** Inclusive `[first, last]` ranges. */
  slots: [number, number][];
}

/** Where `migrateSlot` may pause: after each step of the resharding. */
export type MigrateStep = "importing" | "migrating" | "moved-keys";

/** The running cluster. */
export interface ClusterTopology {
  readonly nodes: ClusterNode[];
  /** `redis+cluster://127.0.0.1:P1,...` with the primaries at start. */
  readonly url: string;
  /** `redis://127.0.0.1:P` of each primary at start. */
  readonly seeds: string[];
  /**
   * `redis-cli -h 127.0.0.1 -p PORT ...args`, stdout trimmed (raw format: one
   * line per element). An error reply comes back as its text (e.g.
   * `MOVED 42 127.0.0.1:P`); it throws only when redis-cli itself fails.
   */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The primaries serving slots now (CLUSTER NODES of a live node), by first slot. */
  primaries(): Promise<ClusterPrimary[]>;
  /** The port of the primary that owns `slot` now. */
  ownerOf(slot: number): Promise<number>;
  /** CLUSTER KEYSLOT, asked to a live node. */
  keySlot(key: string): Promise<number>;
  /** SIGKILLs a node and waits for its exit; no failover wait (see `waitFailoverOf`). */
  kill(port: number): Promise<void>;
  /** CLUSTER FAILOVER on a replica; waits until it is primary and all live nodes agree. */
  failover(replicaPort: number): Promise<void>;
  /**
   * After `kill()` of a primary (with a live replica): waits until its slots
   * moved and every live node is ok; about 2.5 s with the default timeout.
   */
  waitFailoverOf(deadPrimaryPort: number): Promise<void>;
  /**
   * Moves `slot` (and its keys) to the primary on `toPort` by the documented
   * manual resharding (IMPORTING, MIGRATING, GETKEYSINSLOT + MIGRATE, SETSLOT
   * NODE on every primary), then waits until all live nodes agree. The hook
   * runs after each step, e.g. to send traffic while the slot is half-moved.
   * Keys are read from redis-cli's raw output: no newlines in key names.
   */
  migrateSlot(
    slot: number,
    toPort: number,
    opts?: { pauseBetweenSteps?: (step: MigrateStep) => Promise<void> },
  ): Promise<void>;
  /**
   * With `proxyPrimaries`: the proxy in front of the node on (real) `port`,
   * which it announces as its address; undefined for a node started without.
   */
  proxyOf(port: number): Proxy | undefined;
  /**
   * Starts a killed node again, on the same port, options and node config
   * file (so with the same node ID), empty (no persistence); then waits until
   * all live nodes agree. A former primary whose slots a replica took over
   * rejoins as that replica's replica (and syncs from it).
   */
  restart(port: number): Promise<void>;
  /** SIGKILLs every node, waits for the exits, removes the temp dir. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const HOST = "127.0.0.1";
const SETTLE_MS = 20_000;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `count` distinct free ports (all held open at once, then released). */

/** Runs redis-cli (SIGKILL after 10 s); `strict` adds `-e` and throws on a non-zero exit. */
function redisCli(args: string[], strict = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("redis-cli", strict ? ["-e", ...args] : args, {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (chunk) => out += chunk);
    child.stderr!.on("data", (chunk) => err += chunk);
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("error", (e) => err += e.message);
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code === 0 || (!strict && code !== null && err === "")) {
        resolve(out.trim());
      } else {
        reject(new Error(`redis-cli ${args.join(" ")}: ${code} ${out}${err}`));
      }
    });
  });
}

type Range = [number, number];

/**
 * CLUSTER NODES text; importing/migrating markers (`[...]`) are skipped.
 * `real` maps an announced port to the node's own (proxies).
 */
function parseNodes(text: string, real = (port: number) => port) {
  return text.split("\n").filter((l) => l.trim() !== "").map((line) => {
    const [id, addr, flags, master, , , , , ...slots] = line.trim().split(" ");
    return {
      id,
      port: real(Number(addr.split(/[@,]/)[0].split(":").at(-1))),
      flags: flags.split(","),
      master,
      slots: slots.filter((s) => !s.startsWith("[")).map((s): Range => {
        const [first, last = first] = s.split("-").map(Number);
        return [first, last];
      }),
    };
  });
}

/** Kills the pids it was last told (`pids A B`) and removes `$1` when our end of the pipe closes. */
const WATCHDOG = "cat | { " +
  'trap "" INT TERM HUP; pids=""; ' +
  'while read -r word arg; do case "$word" in stop) exit 0 ;; pids) pids="$arg" ;; esac; done; ' +
  '[ -n "$pids" ] && kill -9 $pids 2>/dev/null; rm -rf "$1"; }';

/** Starts the cluster and waits (bounded) until every node is ok and all agree. */
export async function startCluster(
  options: ClusterOptions = {},
): Promise<ClusterTopology> {
  requireRedisServer();
  const { primaries: count = 3, replicasPerPrimary = 1 } = options;
  if (count < 3) throw new Error("a Redis Cluster needs at least 3 primaries");
  const dir = await mkdtemp(join(tmpdir(), "redsync-cluster-"));
  const watchdog = spawn("/bin/sh", ["-c", WATCHDOG, "watchdog", dir], {
    stdio: ["pipe", "ignore", "ignore"],
  });
  watchdog.stdin!.on("error", () => {});
  const watchdogClosed = new Promise((r) => watchdog.once("close", r));
  type Node = ClusterNode & {
    alive: boolean;
    closed: Promise<void>;
    process: ChildProcess;
  };
  const nodes: Node[] = [];
  /** Proxied nodes: real port -> proxy, and announced port -> real port. */
  const proxies = new Map<number, Proxy>();
  const realPorts = new Map<number, number>();
  const real = (port: number) => realPorts.get(port) ?? port;
  const announced = (port: number) => {
    const proxy = proxies.get(port);
    return proxy ? Number(new URL(proxy.url).port) : port;
  };
  const live = () => nodes.filter((n) => n.alive);
  const pids = () => live().map((n) => n.process.pid).join(" ");
  const watch = () => watchdog.stdin!.write(`pids ${pids()}\n`);
  const ask = (port: number, ...args: string[]) =>
    redisCli(["-h", HOST, "-p", String(port), ...args]);
  const cli = (port: number, ...args: string[]) =>
    redisCli(["-h", HOST, "-p", String(port), ...args], false);
  const primaries = async () => {
    for (const node of live()) {
      const text = await ask(node.port, "CLUSTER", "NODES").catch(() => "");
      if (text === "") continue; // try the next
      return parseNodes(text, real).filter((n) =>
        n.flags.includes("master") && !n.flags.includes("fail") &&
        n.slots.length > 0
      ).map(({ port, id, slots }) => ({ port, id, slots }))
        .sort((a, b) => a.slots[0][0] - b.slots[0][0]);
    }
    throw new Error("no live cluster node answers");
  };
  const ownerOf = async (slot: number) => {
    const owner = ownerIn(await primaries(), slot);
    if (owner === undefined) throw new Error(`no primary owns slot ${slot}`);
    return owner.port;
  };
  /** One live node's verdict: its view as a string if it is ok, else undefined. */
  const verdict = async (port: number) => {
    if (!/cluster_state:ok/.test(await ask(port, "CLUSTER", "INFO"))) return;
    const lines = parseNodes(await ask(port, "CLUSTER", "NODES"), real);
    const byId = new Map(lines.map((l) => [l.id, l]));
    const parts: string[] = [];
    let covered = 0;
    for (const node of live()) {
      const line = lines.find((l) => l.port === node.port);
      if (!line || line.flags.some((f) => /fail|handshake|noaddr/.test(f))) {
        return;
      }
      if (line.flags.includes("slave")) {
        parts.push(`${node.port}>${byId.get(line.master)?.port}`);
      }
    }
    for (const line of lines) {
      if (!line.flags.includes("master") || line.slots.length === 0) continue;
      if (!live().some((n) => n.port === line.port)) return; // dead owner
      for (const [first, last] of line.slots) {
        parts.push(`${first}-${last}@${line.port}`);
        covered += last - first + 1;
      }
    }
    // A replica: linked to, and synced with, the primary its view names.
    const [role, , primary, state] = (await ask(port, "ROLE")).split("\n");
    const me = lines.find((l) => l.flags.includes("myself"))?.master ?? "";
    const linked = state === "connected" &&
      real(Number(primary)) === byId.get(me)?.port;
    if (covered !== 16384 || (role === "slave" && !linked)) return;
    return parts.sort().join(" ");
  };
  const settle = async (what: string, check = () => Promise.resolve(true)) => {
    const deadline = performance.now() + SETTLE_MS;
    for (let i = 0; i < SETTLE_MS / 50; i++) {
      const views = await Promise.all(
        live().map((n) => verdict(n.port).catch(() => undefined)),
      );
      const agree = views.every((v) => v !== undefined && v === views[0]);
      if (agree && await check()) return;
      if (performance.now() > deadline) break;
      await delay(50);
    }
    throw new Error(`cluster: ${what} did not happen within ${SETTLE_MS} ms`);
  };
  const kill = async (port: number) => {
    const node = nodes.find((n) => n.port === port);
    if (node === undefined) throw new Error(`no cluster node on port ${port}`);
    try {
      if (node.alive) process.kill(node.process.pid!, "SIGKILL");
    } catch { /* already gone */ }
    await node.closed;
    watch();
  };
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await Promise.all(nodes.map((n) => kill(n.port).catch(() => {})));
      await Promise.all([...proxies.values()].map((p) => p.close()));
      await rm(dir, { recursive: true, force: true });
      watchdog.stdin!.end("stop\n");
      await watchdogClosed;
    })();
  try {
    const nodeTimeout = String(options.nodeTimeoutMs ?? 1000);
    const profile = options.profile ?? activeProfile();
    const rule = defaultUserRule(profile);
    const ports = await freePorts(2 * count * (1 + replicasPerPrimary));
    /** The arguments of each node, by port, for `restart()`. */
    const argsOf = new Map<number, string[]>();
    const launch = (node: Node) => {
      const child = spawn("redis-server", argsOf.get(node.port)!, {
        stdio: "ignore",
      });
      node.process = child;
      node.alive = true;
      node.closed = new Promise<void>((resolve) => {
        child.once("exit", () => node.alive = false);
        child.once("error", () => resolve());
        child.once("close", () => resolve());
      }).then(() => void (node.alive = false));
    };
    const started = async (node: Node) => {
      for (let i = 0; i < 200; i++) {
        if (!node.alive) break;
        if (await cli(node.port, "PING").catch(() => "") === "PONG") return;
        await delay(50);
      }
      const log = await readFile(join(dir, `${node.port}.log`), "utf8")
        .catch(() => "");
      throw new Error(`cluster node ${node.port} did not start:\n${log}`);
    };
    for (let i = 0; i < ports.length; i += 2) {
      const [port, busPort] = [ports[i], ports[i + 1]];
      // deno-fmt-ignore
      const args = ["--port", String(port), "--bind", HOST,
        "--cluster-enabled", "yes", "--cluster-port", String(busPort),
        "--cluster-config-file", join(dir, `nodes-${port}.conf`),
        "--cluster-node-timeout", nodeTimeout, "--cluster-replica-validity-factor", "0",
        "--cluster-allow-replica-migration", "no", "--save", "", "--appendonly", "no",
        "--repl-diskless-sync-delay", "0", "--dir", dir, "--logfile", join(dir, `${port}.log`),
      ];
      // redis-cli --cluster create makes the first `count` nodes it is
      // given primaries when they share one IP (checked after it).
      if (options.proxyPrimaries && i / 2 < count) {
        const proxy = await startProxy(port);
        proxies.set(port, proxy);
        realPorts.set(announced(port), port);
        // deno-fmt-ignore
        args.push("--cluster-announce-ip", HOST,
          "--cluster-announce-port", String(announced(port)),
          "--cluster-announce-bus-port", String(busPort));
      }
      args.push(...profileArgs(profile).args);
      if (rule) args.push("--user", ...rule);
      argsOf.set(port, args);
      const node = { port } as Node;
      launch(node);
      nodes.push(node);
    }
    watch();
    await Promise.all(nodes.map(started));
    // deno-fmt-ignore
    await redisCli(["--cluster", "create", ...nodes.map((n) => `${HOST}:${n.port}`),
      "--cluster-replicas", String(replicasPerPrimary), "--cluster-yes"]);
    await settle("startup");
    const seedPorts = (await primaries()).map((p) => p.port);
    // Acknowledged writes on every shard, not only linked replicas.
    if (replicasPerPrimary > 0) {
      await Promise.all(
        (await primaries()).map((p) =>
          waitForReplicas(p.port, {
            replicas: replicasPerPrimary,
            slots: p.slots,
          })
        ),
      );
    }
    if (options.proxyPrimaries) {
      const wanted = nodes.slice(0, count).map((n) => n.port).sort();
      if (String([...seedPorts].sort()) !== String(wanted)) {
        throw new Error(
          `cluster: the primaries are ${seedPorts}, not the proxied ${wanted}`,
        );
      }
    }
    const primaryOf = async (port: number) =>
      (await primaries()).find((p) => p.port === port);
    return {
      nodes,
      // The addresses the nodes announce (a proxy's, with proxyPrimaries).
      url: `redis+cluster://${
        seedPorts.map((p) => `${HOST}:${announced(p)}`).join(",")
      }`,
      seeds: seedPorts.map((p) => `redis://${HOST}:${announced(p)}`),
      cli,
      primaries,
      ownerOf,
      keySlot: async (key) =>
        Number(await ask(live()[0]?.port ?? 0, "CLUSTER", "KEYSLOT", key)),
      kill,
      async failover(replicaPort) {
        await ask(replicaPort, "CLUSTER", "FAILOVER");
        const promoted = async () => !!await primaryOf(replicaPort);
        await settle(`failover to ${replicaPort}`, promoted);
      },
      async waitFailoverOf(deadPrimaryPort) {
        if (nodes.find((n) => n.port === deadPrimaryPort)?.alive !== false) {
          throw new Error(`kill(${deadPrimaryPort}) before waitFailoverOf()`);
        }
        await settle(`failover of ${deadPrimaryPort}`); // no slots on the dead
      },
      async migrateSlot(slot, toPort, opts = {}) {
        const all = await primaries();
        const from = ownerIn(all, slot);
        const to = all.find((p) => p.port === toPort);
        if (!from || !to) throw new Error(`migrateSlot: ${toPort} serves none`);
        if (from === to) return;
        const pause = opts.pauseBetweenSteps ?? (() => Promise.resolve());
        const s = String(slot);
        await ask(to.port, "CLUSTER", "SETSLOT", s, "IMPORTING", from.id);
        await pause("importing");
        await ask(from.port, "CLUSTER", "SETSLOT", s, "MIGRATING", to.id);
        await pause("migrating");
        const deadline = performance.now() + 60_000;
        for (let i = 0;; i++) {
          const keys =
            (await ask(from.port, "CLUSTER", "GETKEYSINSLOT", s, "100"))
              .split("\n").filter((k) => k !== "");
          if (keys.length === 0) break;
          const late = i >= 10_000 || performance.now() > deadline;
          if (late) throw new Error(`migrateSlot: keys left in ${slot}`);
          // deno-fmt-ignore
          await ask(from.port, "MIGRATE", HOST, String(to.port), "", "0", "5000", "KEYS", ...keys);
        }
        await pause("moved-keys");
        const others = all.filter((p) => p !== to && p !== from);
        for (const p of [to, from, ...others]) {
          await ask(p.port, "CLUSTER", "SETSLOT", s, "NODE", to.id);
        }
        const moved = async () => await ownerOf(slot) === toPort;
        await settle(`slot ${slot} to ${toPort}`, moved);
      },
      proxyOf: (port) => proxies.get(port),
      async restart(port) {
        const node = nodes.find((n) => n.port === port);
        if (node === undefined) throw new Error(`no cluster node on ${port}`);
        if (node.alive) throw new Error(`restart(${port}): it is running`);
        if (closing) throw new Error(`restart(${port}) after close()`);
        launch(node);
        watch();
        await started(node);
        await settle(`restart of ${port}`);
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function ownerIn(all: ClusterPrimary[], slot: number) {
  return all.find((p) => p.slots.some(([a, b]) => a <= slot && slot <= b));
}
