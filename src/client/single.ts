/**
 * One server behind the client: a fixed address, or the primary of a
 * master that Sentinel monitors (every connection resolves it, and a
 * `+switch-master` hint moves them all at once).
 *
 * @module
 */
import type { ConnectionError } from "../errors.ts";
import type { RedisArg, RedisReply } from "../resp/types.ts";
import type { ResolvedOptions } from "./options.ts";
import { SentinelResolver } from "./sentinel.ts";
import { SentinelWatcher } from "./sentinel_watcher.ts";
import { ServerNode } from "./server_node.ts";
import type {
  BuildWrite,
  ExclusiveSend,
  PrimaryNode,
  Topology,
  WakeSource,
} from "./topology.ts";
import { WakeHub } from "./wake_hub.ts";

/** A single server (or Sentinel's primary). */
export class SingleTopology implements Topology {
  readonly #options: ResolvedOptions;
  readonly #node: ServerNode;
  readonly #watcher: SentinelWatcher | undefined;
  #hub: WakeHub | undefined;

  /** `onGiveUp`: the main connection was lost and `reconnect` is `false`. */
  constructor(
    resolved: ResolvedOptions,
    onGiveUp: (error: ConnectionError) => void,
  ) {
    // Following a master through Sentinel: every connection resolves it.
    const options = resolved.sentinel
      ? {
        ...resolved,
        target: new SentinelResolver(resolved, resolved.sentinel),
      }
      : resolved;
    this.#options = options;
    this.#node = new ServerNode(options, (error) => {
      this.#hub?.close();
      onGiveUp(error);
    });
    if (options.sentinel) {
      // A hint: on +switch-master, move every connection to the new one.
      this.#watcher = new SentinelWatcher(
        options,
        options.sentinel,
        () => this.#followFailover(),
      );
    }
  }

  async open(): Promise<void> {
    // `lazy`: connect in the background; commands fail fast meanwhile.
    if (this.#options.lazy) this.#node.openLater(true);
    else await this.#node.open();
    this.#watcher?.start();
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

  /** The sentinels announced a new primary: every connection moves to it. */
  #followFailover(): void {
    if (this.#options.reconnect === false) return;
    const reason =
      `${this.#options.display}: the sentinels announced a new primary`;
    this.#node.drop(reason);
    this.#hub?.drop(reason);
  }

  async close(): Promise<void> {
    await Promise.all([
      this.#node.close(),
      this.#hub?.close(),
      this.#watcher?.close(),
    ]);
  }
}
