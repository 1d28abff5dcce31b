/**
 * The wake hub of a cluster client. On one server, `WakeHub` subscribes to
 * one channel for all the waiters of a client; in a cluster, a script may
 * only publish in its own slot, so a cluster client's hub (its id starts
 * with `~`) is told on one channel per primitive: the script that wakes one
 * of its waiters `SPUBLISH`es `<id>|<message>` on `p:{name}:wake:<hubId>`
 * (see `wake()` in `_internal/lua.ts`), in the primitive's slot, and the hub
 * `SSUBSCRIBE`s there on the primary that owns the slot, one subscriber
 * connection per primary. No key is written, so a resharding never meets a
 * half-migrated wake-up.
 *
 * Servers before Redis 7.0 have no sharded pub/sub (nor one that renamed it
 * away, or a user denied it by ACL): a script there finds `SPUBLISH`
 * refused and `PUBLISH`es on the same channel instead, which the cluster
 * bus takes to every node, and the hub, once a node answered its
 * `SSUBSCRIBE` that way (remembered per node), `SUBSCRIBE`s there instead.
 * No version is asked: the server's answers decide.
 *
 * The mechanism is the one-server hub's (`client/channel_hub.ts`): tickets
 * re-check Redis once their channel's subscription is confirmed and when
 * it is lost, and a lost subscription is made again: after a dropped
 * connection, when the server drops a sharded channel (its slot moved), or
 * when the slot map gives the slot to another node ({@linkcode
 * ClusterHub.remap}: unsubscribed there, subscribed at the new owner).
 *
 * @module
 */
import { ChannelHub } from "../../client/channel_hub.ts";
import { randomHubId } from "../../client/mailboxes.ts";
import type { ResolvedOptions } from "../../client/options.ts";
import { fixedTarget, type Target } from "../../client/target.ts";
import { addressOf } from "./redirect.ts";

/** What the hub needs of the cluster topology. */
export interface ClusterHubHooks {
  /** The primary serving `key`'s slot now (after `natMap`), if known. */
  ownerOf(key: string): Target | undefined;
  /** Asks for a slot-map refresh. */
  refresh(): void;
}

/** Sharded pub/sub wake-ups, one subscriber connection per primary. */
export class ClusterHub extends ChannelHub {
  constructor(options: ResolvedOptions, hooks: ClusterHubHooks) {
    const scheme = options.tls ? "rediss" : "redis";
    super({
      id: "~" + randomHubId(),
      options,
      sharded: true,
      homeOf: (key) => {
        const owner = hooks.ownerOf(key);
        if (!owner) return undefined;
        const address = addressOf(owner);
        return {
          address,
          options: () => ({
            ...options,
            target: fixedTarget(owner),
            display: `${scheme}://${address}`,
          }),
        };
      },
      refresh: () => hooks.refresh(),
    });
  }
}
