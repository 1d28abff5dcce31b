/**
 * Wake-ups multiplexed per client: every waiter of every primitive on one
 * client (lock acquires, event waits) is woken through ONE connection, so
 * the connections a client opens do not grow with its waiters, and an idle
 * event wait never holds a connection a lock hand-off needs.
 *
 * A waiter gets a `WakeTicket` (`client/mailboxes.ts`) whose id is
 * `<hubId>.<n>`. A script that wakes it (a grant, an event set)
 * `PUBLISH`es `<id>|<message>` on the channel `<prefix>:wake:<hubId>`
 * (`SingleTopology.wakePrefix`: one channel per hub and key prefix,
 * whatever the primitive), deriving the channel from the id: no key is
 * written, so every key a script touches is one it declares. The hub keeps
 * one subscriber connection, `SUBSCRIBE`d to the channels its waiters
 * listen on, and hands each message to its ticket: a burst of grants to
 * waiters of many primitives costs no round trip at all. Redis stays the
 * truth: pub/sub keeps nothing, so the tickets re-check Redis (`REARM`)
 * once their channel's subscription is confirmed and whenever it is lost
 * (see `client/channel_hub.ts`, the mechanism this shares with the
 * cluster's hub).
 *
 * @module
 */
import { ChannelHub } from "../../client/channel_hub.ts";
import { randomHubId } from "../../client/mailboxes.ts";
import type { ResolvedOptions } from "../../client/options.ts";

/** The per-client wake-up multiplexer of one server (or Sentinel's primary). */
export class WakeHub extends ChannelHub {
  /**
   * `options`: the client's (with Sentinel, their target finds the current
   * primary for every new connection).
   */
  constructor(options: ResolvedOptions) {
    super({
      id: randomHubId(),
      options,
      sharded: false,
      homeOf: () => ({ address: options.display, options: () => options }),
    });
  }
}
