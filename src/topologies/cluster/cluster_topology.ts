/**
 * A Redis Cluster behind the client: the slot map, one `ServerNode` (main
 * connection and blocking pool) per primary, and routing by the hash slot
 * of each command's first key. `MOVED` updates the slot and retries on its
 * owner; `ASK` sends `ASKING` and the command together to the node named,
 * for that command only; `TRYAGAIN`/`CLUSTERDOWN` retry with backoff; all
 * at most `maxRedirects` times. A command lost with a connection fails with
 * `ConnectionError` and is never re-sent; one still waiting for its node's
 * connection goes to the new owner when that node is retired.
 *
 * @module
 */
import { abortable, backoff, delay } from "../../_internal/async.ts";
import { ConnectionError, RedisReplyError } from "../../errors.ts";
import type { RedisArg, RedisReply } from "../../resp/types.ts";
import type { ResolvedOptions } from "../../client/options.ts";
import { ServerNode } from "../../client/server_node.ts";
import { fixedTarget, type Target } from "../../client/target.ts";
import type {
  BuildWrite,
  ExclusiveSend,
  PrimaryNode,
  Topology,
  WakeSource,
} from "../../client/topology.ts";
import { firstKey } from "./command_keys.ts";
import { type Layout, readLayout } from "./discovery.ts";
import { lendFirstKeyNode } from "./exclusive.ts";
import { ClusterHub } from "./hub.ts";
import type { ResolvedCluster } from "./options.ts";
import { addressOf, redirectOf } from "./redirect.ts";
import { Refresher } from "./refresher.ts";
import { keySlot, SLOTS } from "./slot.ts";

/** How often the health of the nodes is looked at, in milliseconds. */
const TICK_MS = 500;
/** A retired node's connections close after this long (replies in flight). */
const RETIRE_GRACE_MS = 2_000;

/** One primary of the cluster, as the client keeps it. */
interface ClusterNode {
  readonly address: string;
  readonly target: Target;
  readonly server: ServerNode;
  /** Aborts when the node no longer serves any slot. */
  readonly retired: AbortController;
  started: boolean;
}

/** The cluster topology of a client. */
export class ClusterTopology implements Topology {
  readonly cluster = true;
  readonly #options: ResolvedOptions;
  readonly #cluster: ResolvedCluster;
  readonly #onGiveUp: (error: ConnectionError) => void;
  readonly #nodes = new Map<string, ClusterNode>();
  #owners: (ClusterNode | undefined)[] = new Array(SLOTS);
  readonly #refresher = new Refresher(() => this.#read());
  #lastError: unknown;
  #tick: ReturnType<typeof setInterval> | undefined;
  #hub: ClusterHub | undefined;
  readonly #reconnectListeners = new Set<() => void>();
  readonly #retiring = new Set<Promise<void>>();
  #closed = false;

  constructor(
    options: ResolvedOptions,
    cluster: ResolvedCluster,
    onGiveUp: (error: ConnectionError) => void,
  ) {
    this.#options = options;
    this.#cluster = cluster;
    this.#onGiveUp = onGiveUp;
  }

  async open(): Promise<void> {
    const signal = AbortSignal.timeout(this.#options.connectTimeoutMs);
    this.#apply(await readLayout(this.#options, this.#cluster, [], signal));
    const nodes = [...this.#nodes.values()];
    const opened = await Promise.allSettled(
      nodes.map((node) => node.server.open()),
    );
    if (opened.every((result) => result.status === "rejected")) {
      await this.close();
      throw (opened[0] as PromiseRejectedResult).reason;
    }
    // A primary down now (a failover under way) is connected later.
    for (const node of nodes) node.started = true;
    opened.forEach((result, i) => {
      if (result.status === "rejected") nodes[i].server.openLater();
    });
    this.#tick = setInterval(() => this.#watch(), TICK_MS);
  }

  get protocol(): 2 | 3 {
    for (const node of this.#nodes.values()) {
      const connection = node.server.connection;
      if (connection) return connection.protocol;
    }
    return 2;
  }

  request(
    args: readonly RedisArg[],
    bytes: boolean,
    signal: AbortSignal | undefined,
  ): Promise<RedisReply> {
    return this.#route(args, signal, false, (node, asking) => {
      if (!asking) return node.server.request(args, bytes, signal);
      // ASKING and the command in one write, on one connection: both or
      // neither (an ASKING written alone would apply to the next caller's
      // command), so the signal is checked before either is written.
      return node.server.whenReady(signal).then((connection) => {
        signal?.throwIfAborted();
        connection.request(["ASKING"]).catch(() => {});
        return connection.request(args, { bytes, signal });
      });
    });
  }

  blocking(
    args: readonly RedisArg[],
    bytes: boolean,
    signal: AbortSignal | undefined,
  ): Promise<RedisReply> {
    return this.#route(
      args,
      signal,
      true,
      (node) => node.server.blocking(args, bytes, signal),
    );
  }

  wait(): Promise<RedisReply> {
    return Promise.reject(
      new TypeError(
        "Cannot send WAIT or WAITAOF on a cluster client as its writes go to several primaries, on connections of their own",
      ),
    );
  }

  async writeThenWait(
    key: RedisArg,
    build: BuildWrite,
    wait: readonly RedisArg[],
    signal: AbortSignal | undefined,
  ): Promise<[RedisReply, RedisReply]> {
    let both: [RedisReply, RedisReply] | undefined;
    await this.#route(["WRITE", key], signal, false, async (node, asking) => {
      both = await node.server.writeThenWait(build, wait, signal, asking);
      return null;
    });
    return both!;
  }

  exclusive<T>(
    fn: (send: ExclusiveSend) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    return lendFirstKeyNode(
      (args) => this.#owner(slotOf(args), signal).then((node) => node.server),
      fn,
      signal,
    );
  }

  wakePrefix(_prefix: string, base: string): string {
    // A script may only publish on a channel in its own slot.
    return `${base}:wake:`;
  }

  hub(): WakeSource {
    // Sharded pub/sub, or plain pub/sub on nodes found without it.
    return this.#hub ??= new ClusterHub(this.#options, {
      ownerOf: (key) => this.#owners[keySlot(key)]?.target,
      refresh: () => this.#refresher.soon(),
    });
  }

  onReconnect(listener: () => void): () => void {
    this.#reconnectListeners.add(listener);
    return () => this.#reconnectListeners.delete(listener);
  }

  loadedScripts(key: RedisArg | undefined): Set<string> | undefined {
    if (key === undefined) return undefined;
    return this.#owners[keySlot(key)]?.server.connection?.scripts;
  }

  primaries(): Promise<PrimaryNode[]> {
    return Promise.resolve(
      [...this.#nodes.values()].map((node) => ({
        address: node.address,
        send: (args) => node.server.request(args, false, undefined),
      })),
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#tick);
    const nodes = [...this.#nodes.values()];
    this.#nodes.clear();
    await Promise.all([
      this.#hub?.close(),
      ...nodes.map((node) => node.server.close()),
      ...this.#retiring,
      this.#refresher.stop(),
    ]);
  }

  /** Sends with `send` to the owner of the command's slot, following redirects. */
  async #route(
    args: readonly RedisArg[],
    signal: AbortSignal | undefined,
    blocking: boolean,
    send: (node: ClusterNode, asking: boolean) => Promise<RedisReply>,
  ): Promise<RedisReply> {
    let slot = slotOf(args);
    let ask: ClusterNode | undefined;
    const pauses = backoff({ minMs: 10, maxMs: 500, jitter: 0.5 });
    for (let redirects = 0;;) {
      const node = ask ?? await this.#owner(slot, signal);
      const asking = ask !== undefined;
      ask = undefined;
      if (!node.server.connection) {
        // Down now: wait for it, unless it is retired meanwhile (its slots
        // moved to a promoted replica): then the command goes there.
        this.#refresher.soon();
        try {
          await node.server.whenReady(
            signal
              ? AbortSignal.any([signal, node.retired.signal])
              : node.retired.signal,
          );
        } catch (error) {
          if (node.retired.signal.aborted && !signal?.aborted) continue;
          throw error;
        }
      }
      try {
        return await send(node, asking);
      } catch (error) {
        if (error instanceof ConnectionError) this.#refresher.soon();
        const unblocked = blocking && !signal?.aborted &&
          error instanceof RedisReplyError && error.code === "UNBLOCKED";
        const redirect = unblocked
          ? { kind: "TRYAGAIN" as const }
          : redirectOf(error, node.target);
        if (!redirect) throw error;
        if (++redirects > this.#cluster.maxRedirects) {
          throw new ConnectionError(
            `Command ${
              String(args[0]).toUpperCase()
            } to ${this.#options.display} gave up after ${this.#cluster.maxRedirects} redirects: ${
              (error as Error).message
            }`,
            { cause: error },
          );
        }
        if (redirect.kind === "MOVED") {
          slot = redirect.slot;
          this.#owners[slot] = this.#nodeAt(redirect.to);
          this.#refresher.soon();
        } else if (redirect.kind === "ASK" && !blocking) {
          ask = this.#nodeAt(redirect.to);
        } else {
          // TRYAGAIN, CLUSTERDOWN, an ASK for a blocking command (it waits
          // until the slot has moved), UNBLOCKED by a failover.
          this.#refresher.soon();
          await delay(pauses.next().value!, signal);
        }
      }
    }
  }

  /** The node serving `slot` (`-1`: any), after a refresh if none is known. */
  async #owner(slot: number, signal: AbortSignal | undefined) {
    if (this.#closed) throw this.#closedError();
    let node = slot === -1 ? this.#anyNode() : this.#owners[slot];
    if (node) return node;
    await abortable(this.#refresher.now(), signal);
    node = slot === -1 ? this.#anyNode() : this.#owners[slot];
    if (node) return node;
    throw new ConnectionError(
      `No node of ${this.#options.display} serves slot ${slot} (the cluster is down or resharding)`,
      { cause: this.#lastError },
    );
  }

  #anyNode(): ClusterNode | undefined {
    let first: ClusterNode | undefined;
    for (const node of this.#nodes.values()) {
      if (node.server.connection) return node;
      first ??= node;
    }
    return first;
  }

  /** The node at `target` (after `natMap`), created on first use. */
  #nodeAt(announced: Target): ClusterNode {
    const target = this.#cluster.natMap?.(announced) ?? announced;
    const address = addressOf(target);
    const known = this.#nodes.get(address);
    if (known) return known;
    const server = new ServerNode({
      ...this.#options,
      target: fixedTarget(target),
      display: `${this.#options.tls ? "rediss" : "redis"}://${address}`,
    }, (error) => this.#onGiveUp(error));
    const node: ClusterNode = {
      address,
      target,
      server,
      retired: new AbortController(),
      started: false,
    };
    server.onReconnect(() => {
      for (const listener of this.#reconnectListeners) listener();
    });
    this.#nodes.set(address, node);
    if (this.#tick !== undefined) {
      node.started = true;
      server.openLater();
    }
    return node;
  }

  /** Takes a new slot map: nodes serving no slot are retired. */
  #apply(layout: Layout): void {
    const owners: (ClusterNode | undefined)[] = new Array(SLOTS);
    const live = new Set<ClusterNode>();
    const byIndex = layout.primaries.map((target) => this.#nodeAt(target));
    for (let slot = 0; slot < SLOTS; slot++) {
      const index = layout.owners[slot];
      if (index < 0) continue;
      const node = byIndex[index];
      owners[slot] = node;
      live.add(node);
    }
    this.#owners = owners;
    for (const node of [...this.#nodes.values()]) {
      if (!live.has(node)) this.#retire(node);
    }
    this.#hub?.remap();
  }

  #retire(node: ClusterNode): void {
    this.#nodes.delete(node.address);
    node.retired.abort();
    const closing = delay(RETIRE_GRACE_MS).then(() => node.server.close());
    this.#retiring.add(closing);
    closing.finally(() => this.#retiring.delete(closing));
  }

  /** Every `TICK_MS`: refresh when a node is down or the map is old. */
  #watch(): void {
    if (this.#closed) return;
    const old = this.#refresher.age >= this.#cluster.refreshIntervalMs;
    const down = [...this.#nodes.values()].some((node) =>
      !node.server.connection
    );
    if (old || down) this.#refresher.soon();
  }

  /** Reads the slot map from the nodes (then the seeds) and applies it. */
  async #read(): Promise<void> {
    try {
      const sources = [...this.#nodes.values()]
        .filter((node) => node.server.connection)
        .map((node) => ({
          target: node.target,
          send: (args: readonly RedisArg[]) =>
            node.server.request(args, false, undefined),
        }));
      const layout = await readLayout(
        this.#options,
        this.#cluster,
        sources,
        AbortSignal.timeout(this.#options.connectTimeoutMs),
      );
      if (!this.#closed) this.#apply(layout);
    } catch (error) {
      this.#lastError = error;
    }
  }

  #closedError(): ConnectionError {
    return new ConnectionError(`Client for ${this.#options.display} is closed`);
  }
}

/** The hash slot of a command's first key, `-1` for a keyless command. */
function slotOf(args: readonly RedisArg[]): number {
  const key = firstKey(args);
  return key === undefined ? -1 : keySlot(key);
}
