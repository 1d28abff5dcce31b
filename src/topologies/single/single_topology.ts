/**
 * One server behind the client, at the address its options' `target`
 * names: a fixed address (`redis://`), or, through `SentinelTopology`
 * (`../sentinel/`), the primary of a master that Sentinel monitors.
 *
 * @module
 */
import type { ConnectionError } from "../../errors.ts";
import type { RedisArg, RedisReply } from "../../resp/types.ts";
import type { ResolvedOptions } from "../../client/options.ts";
import { ServerNode } from "../../client/server_node.ts";
import type {
  BuildWrite,
  ExclusiveSend,
  PrimaryNode,
  Topology,
  WakeSource,
} from "../../client/topology.ts";
import { WakeHub } from "./hub.ts";

/** A single server (or, extended, Sentinel's primary). */
export class SingleTopology implements Topology {
  readonly cluster = false;
  readonly #options: ResolvedOptions;
  readonly #node: ServerNode;
  #hub: WakeHub | undefined;

  /** `onGiveUp`: the main connection was lost and `reconnect` is `false`. */
  constructor(
    options: ResolvedOptions,
    onGiveUp: (error: ConnectionError) => void,
  ) {
    this.#options = options;
    this.#node = new ServerNode(options, (error) => {
      this.#hub?.close();
      onGiveUp(error);
    });
  }

  async open(): Promise<void> {
    // `lazy`: connect in the background; commands fail fast meanwhile.
    if (this.#options.lazy) this.#node.openLater(true);
    else await this.#node.open();
  }

  get protocol(): 2 | 3 {
    return this.#node.connection?.protocol ?? 2;
  }

  request(
    args: readonly RedisArg[],
    bytes: boolean,
    signal: AbortSignal | undefined,
  ): Promise<RedisReply> {
    return this.#node.request(args, bytes, signal);
  }

  blocking(
    args: readonly RedisArg[],
    bytes: boolean,
    signal: AbortSignal | undefined,
  ): Promise<RedisReply> {
    return this.#node.blocking(args, bytes, signal);
  }

  wait(
    args: readonly RedisArg[],
    signal: AbortSignal | undefined,
  ): Promise<RedisReply> {
    return this.#node.wait(args, signal);
  }

  writeThenWait(
    _key: RedisArg,
    build: BuildWrite,
    wait: readonly RedisArg[],
    signal: AbortSignal | undefined,
  ): Promise<[RedisReply, RedisReply]> {
    return this.#node.writeThenWait(build, wait, signal);
  }

  exclusive<T>(
    fn: (send: ExclusiveSend) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    return this.#node.exclusive(
      (connection) => fn((...args) => connection.request(args)),
      signal,
    );
  }

  wakePrefix(prefix: string, _base: string): string {
    // One channel per hub (and prefix) for every primitive: a burst of
    // grants to many primitives reaches the hub with no command at all.
    return `${prefix}${prefix ? ":" : ""}wake:`;
  }

  hub(): WakeSource {
    return this.#hub ??= new WakeHub(this.#options);
  }

  onReconnect(listener: () => void): () => void {
    return this.#node.onReconnect(listener);
  }

  loadedScripts(_key: RedisArg | undefined): Set<string> | undefined {
    return this.#node.connection?.scripts;
  }

  connecting(_key: RedisArg | undefined): boolean {
    return this.#node.connecting;
  }

  primaries(): Promise<PrimaryNode[]> {
    return Promise.resolve([{
      address: this.#options.display,
      send: (args) => this.#node.request(args, false, undefined),
    }]);
  }

  /**
   * Drops every connection (the main one, the pool's, the hub's) as if
   * lost: their successors connect to wherever the target names now.
   */
  drop(reason: string): void {
    this.#node.drop(reason);
    this.#hub?.drop(reason);
  }

  async close(): Promise<void> {
    await Promise.all([this.#node.close(), this.#hub?.close()]);
  }
}
