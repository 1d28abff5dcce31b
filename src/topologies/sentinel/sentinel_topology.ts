/**
 * The primary of a master that Sentinel monitors, behind the client: one
 * server, as `SingleTopology`, whose every connection finds the current
 * primary (`SentinelResolver` as its target), and a `+switch-master` hint
 * (`SentinelWatcher`) that moves them all at once.
 *
 * @module
 */
import type { ConnectionError } from "../../errors.ts";
import type { ResolvedOptions } from "../../client/options.ts";
import { SingleTopology } from "../single/single_topology.ts";
import type { ResolvedSentinel } from "./options.ts";
import { SentinelResolver } from "./resolver.ts";
import { SentinelWatcher } from "./watcher.ts";

/** Sentinel's primary: one server, found again by every connection. */
export class SentinelTopology extends SingleTopology {
  readonly #options: ResolvedOptions;
  readonly #watcher: SentinelWatcher;

  /** `onGiveUp`: the main connection was lost and `reconnect` is `false`. */
  constructor(
    resolved: ResolvedOptions,
    sentinel: ResolvedSentinel,
    onGiveUp: (error: ConnectionError) => void,
  ) {
    // Following a master through Sentinel: every connection resolves it.
    const options = {
      ...resolved,
      target: new SentinelResolver(resolved, sentinel),
    };
    super(options, onGiveUp);
    this.#options = options;
    // A hint: on +switch-master, move every connection to the new one.
    this.#watcher = new SentinelWatcher(
      options,
      sentinel,
      () => this.#followFailover(),
    );
  }

  override async open(): Promise<void> {
    await super.open();
    this.#watcher.start();
  }

  /** The sentinels announced a new primary: every connection moves to it. */
  #followFailover(): void {
    if (this.#options.reconnect === false) return;
    this.drop(
      `${this.#options.display}: the sentinels announced a new primary`,
    );
  }

  override async close(): Promise<void> {
    await Promise.all([super.close(), this.#watcher.close()]);
  }
}
