/**
 * The wake-up mechanism of both hubs: waiters are woken through pub/sub.
 * A script that wakes waiter `<hubId>.<n>` publishes `<id>|<message>` on
 * the channel `wakePrefix + hubId` (`wake()` in `_internal/lua.ts`), which
 * touches no key; the hub subscribes to the channels its waiters listen on
 * and hands each message to its ticket (`Mailboxes`). One server (or
 * Sentinel's primary, `WakeHub`): one channel per hub and key prefix, on
 * one connection, for every waiter of every primitive, so a burst of grants
 * across many names costs no round trip at all. A cluster (`ClusterHub`):
 * one channel per primitive, in its slot, `SSUBSCRIBE`d on its owner (plain
 * `SUBSCRIBE` on a node without sharded pub/sub), one connection per node.
 *
 * Pub/sub keeps nothing for later, so Redis stays the truth: the tickets
 * of a channel re-check Redis (`REARM`) each time its subscription is
 * confirmed, which finds every wake-up sent before (including before a
 * ticket listened), and when a confirmed subscription is lost (its
 * connection dropped: killed, a half-open socket found by a ping, a
 * Sentinel failover; or, in a cluster, its slot moved), which finds a
 * message lost with it at once; the channel is then subscribed again (with
 * backoff), and that confirmation re-arms again, for what was sent
 * meanwhile. A channel the server refuses to subscribe (an ACL without the
 * channel, or without `SUBSCRIBE`) fails its waits with an error that says
 * so.
 *
 * @module
 */
import { backoff } from "../_internal/async.ts";
import { ConnectionError, RedisReplyError } from "../errors.ts";
import { lacksCommand } from "./commands.ts";
import { Mailboxes, type WakeTicket } from "./mailboxes.ts";
import type { ResolvedOptions } from "./options.ts";
import { Subscriber, type SubscriberEvents } from "./subscriber.ts";
import type { WakeSource } from "./topology.ts";

/** A channel nobody here listens to any more is unsubscribed after this long. */
export const LINGER_MS = 10_000;
/** How often subscribers are checked (liveness, idle channels), in ms. */
const TICK_MS = 500;
/**
 * A subscriber that received nothing for this long is pinged, in ms: a
 * half-open socket is found within this, a tick and `commandTimeoutMs`.
 */
export const PING_AFTER_MS = 2_000;

/** Where a channel is subscribed. */
export interface Home {
  /** Names its subscriber: one connection per address. */
  address: string;
  /** How that connection opens (its target included). */
  options(): ResolvedOptions;
}

/** What differs between the two hubs. */
export interface ChannelHubConfig {
  /** The hub's id (a cluster hub's starts with `~`). */
  id: string;
  /** The client's options (timeouts, display). */
  options: ResolvedOptions;
  /** Try sharded pub/sub first (a cluster); else plain pub/sub. */
  sharded: boolean;
  /** Where the channel `key` is subscribed now; none known: retried later. */
  homeOf(key: string): Home | undefined;
  /** A subscription was lost or refused by its node: refresh the map. */
  refresh?(): void;
}

interface ChannelState {
  listeners: number;
  /** `performance.now()` when the last listener left. */
  idleSince: number;
  /** The subscriber it is subscribed on (or being subscribed). */
  on: Subscriber | undefined;
  /** The server confirmed that subscription. */
  confirmed: boolean;
}

/** Wake-ups through pub/sub: the hub of one client. */
export class ChannelHub implements WakeSource {
  /** The part of waiter ids that names this hub. */
  readonly id: string;
  readonly #config: ChannelHubConfig;
  readonly #mailboxes: Mailboxes;
  readonly #channels = new Map<string, ChannelState>();
  readonly #subscribers = new Map<string, Subscriber>();
  /** Addresses found without sharded pub/sub: plain `SUBSCRIBE` there. */
  readonly #plain = new Set<string>();
  /** Channels waiting to be subscribed again (no home known, node down). */
  readonly #orphans = new Set<string>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #retryDelays = newDelays();
  #tick: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  readonly #stop = new AbortController();
  #lastError: unknown;
  readonly #events: SubscriberEvents = {
    message: (sub, channel, payload) => {
      // Only from the channel's current subscriber: during a move a
      // message may reach the old one too.
      if (this.#channels.get(channel)?.on === sub) {
        this.#mailboxes.deliver(payload);
      }
    },
    confirmed: (sub, channel) => {
      const state = this.#channels.get(channel);
      if (state?.on !== sub) return;
      state.confirmed = true;
      this.#retryDelays = newDelays();
      // A wake-up sent before now (before this channel was subscribed, or
      // while its subscription was lost) was missed: its waiters check Redis.
      this.#mailboxes.rearm(new Set([channel]));
    },
    refused: (sub, channel, sharded, error) =>
      this.#refused(sub, channel, sharded, error),
    dropped: (sub, channel) => {
      this.#detach(channel, sub);
      this.#config.refresh?.();
    },
    lost: (sub, channels, error) => {
      if (this.#subscribers.get(sub.address) === sub) {
        this.#subscribers.delete(sub.address);
      }
      // Asked again on the next connection: a node restarted may have been
      // upgraded (its scripts then SPUBLISH, which SUBSCRIBE does not get).
      this.#plain.delete(sub.address);
      this.#lastError = error;
      for (const channel of channels) this.#detach(channel, sub);
      if (channels.size > 0) this.#config.refresh?.();
    },
  };

  constructor(config: ChannelHubConfig) {
    this.#config = config;
    this.id = config.id;
    this.#mailboxes = new Mailboxes(this.id, {
      listen: (key) => this.#listen(key),
      leave: (key) => this.#leave(key),
    });
  }

  /** Subscriber connections open now. */
  get connections(): number {
    let open = 0;
    for (const sub of this.#subscribers.values()) if (sub.open) open++;
    return open;
  }

  /** A new ticket whose messages arrive on the channel `wakePrefix + id`. */
  ticket(wakePrefix: string): WakeTicket {
    return this.#mailboxes.ticket(wakePrefix + this.id);
  }

  #listen(key: string): void {
    if (this.#closed) return;
    const state = this.#channels.get(key);
    if (state) {
      state.listeners++;
      return;
    }
    this.#channels.set(key, {
      listeners: 1,
      idleSince: 0,
      on: undefined,
      confirmed: false,
    });
    this.#tick ??= setInterval(() => this.#watch(), TICK_MS);
    this.#subscribe(key);
  }

  #leave(key: string): void {
    const state = this.#channels.get(key);
    if (state && --state.listeners === 0) state.idleSince = performance.now();
  }

  /** Subscribes `key` where it lives now (or later, if unknown). */
  #subscribe(key: string): void {
    const state = this.#channels.get(key);
    if (!state || state.on || this.#closed) return;
    const home = this.#config.homeOf(key);
    if (!home) {
      this.#orphan(key);
      return;
    }
    let sub = this.#subscribers.get(home.address);
    if (!sub) {
      sub = new Subscriber(
        home.address,
        home.options(),
        this.#events,
        this.#stop.signal,
      );
      this.#subscribers.set(home.address, sub);
    }
    state.on = sub;
    state.confirmed = false;
    sub.subscribe(key, this.#config.sharded && !this.#plain.has(sub.address));
  }

  /**
   * `key` is no longer subscribed on `sub`: its waiters re-check Redis now
   * if it was confirmed (a message may have been lost with it), and again
   * once it is subscribed again (later, with backoff).
   */
  #detach(key: string, sub: Subscriber): void {
    const state = this.#channels.get(key);
    if (!state || state.on !== sub) return;
    if (state.confirmed) this.#mailboxes.rearm(new Set([key]));
    state.on = undefined;
    state.confirmed = false;
    this.#orphan(key);
  }

  #orphan(key: string): void {
    this.#orphans.add(key);
    if (this.#retryTimer !== undefined || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      const keys = [...this.#orphans];
      this.#orphans.clear();
      for (const key of keys) this.#subscribe(key);
    }, this.#retryDelays.next().value!);
  }

  /** The server refused to subscribe `key` on `sub`. */
  #refused(
    sub: Subscriber,
    key: string,
    sharded: boolean,
    error: RedisReplyError,
  ): void {
    const state = this.#channels.get(key);
    if (!state || state.on !== sub) return;
    if (sharded && lacksCommand(error)) {
      // No sharded pub/sub on this node (before Redis 7.0, renamed or
      // denied): its scripts PUBLISH instead, which plain SUBSCRIBE gets.
      this.#plain.add(sub.address);
      state.on = undefined;
      this.#subscribe(key);
      return;
    }
    if (error.code === "NOPERM" || lacksCommand(error)) {
      // Would repeat: the waits of this channel fail, saying why; a later
      // wait tries again (the ACL may have changed).
      this.#lastError = error;
      this.#channels.delete(key);
      this.#orphans.delete(key);
      this.#mailboxes.fail(key, denied(key, this.id, sharded, error));
      return;
    }
    // MOVED (a stale map), CLUSTERDOWN, LOADING, ...: again, later.
    this.#lastError = error;
    this.#config.refresh?.();
    this.#detach(key, sub);
  }

  /** The slot map changed: channels whose slot moved follow it. */
  remap(): void {
    for (const [key, state] of this.#channels) {
      const sub = state.on;
      if (!sub) {
        this.#subscribe(key); // an orphan: its home may be known now
        continue;
      }
      const home = this.#config.homeOf(key);
      if (home && home.address === sub.address) continue;
      sub.unsubscribe(key);
      this.#detach(key, sub);
      this.#subscribe(key);
    }
  }

  /** Idle channels unsubscribed, idle subscribers closed, liveness. */
  #watch(): void {
    const now = performance.now();
    for (const [key, state] of this.#channels) {
      if (state.listeners > 0 || now - state.idleSince < LINGER_MS) continue;
      this.#channels.delete(key);
      this.#orphans.delete(key);
      state.on?.unsubscribe(key);
    }
    const { commandTimeoutMs } = this.#config.options;
    for (const sub of [...this.#subscribers.values()]) {
      if (sub.idle && sub.open) {
        this.#subscribers.delete(sub.address);
        sub.close();
      } else sub.check(now, commandTimeoutMs, PING_AFTER_MS);
    }
    if (this.#channels.size === 0 && this.#subscribers.size === 0) {
      clearInterval(this.#tick);
      this.#tick = undefined;
    }
  }

  /** Drops the hub's connections as if lost: waiters re-check Redis. */
  drop(reason: string): void {
    for (const sub of [...this.#subscribers.values()]) sub.drop(reason);
  }

  /** Closes the hub's connections; waits reject with `ConnectionError`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    clearInterval(this.#tick);
    clearTimeout(this.#retryTimer);
    this.#mailboxes.close(
      new ConnectionError(
        `Client for ${this.#config.options.display} is closed`,
        { cause: this.#lastError },
      ),
    );
    const subs = [...this.#subscribers.values()];
    this.#subscribers.clear();
    await Promise.all(subs.map((sub) => sub.close()));
  }
}

function newDelays(): Generator<number> {
  return backoff({ minMs: 50, maxMs: 2_000, jitter: 0.5 });
}

/**
 * The error of the waits whose wake channel the server refused: it names
 * the channel, the permission to grant and what the server answered.
 */
function denied(
  channel: string,
  hubId: string,
  sharded: boolean,
  error: RedisReplyError,
): RedisReplyError {
  const pattern = channel.slice(0, channel.length - hubId.length) + "*";
  const commands = sharded ? "SSUBSCRIBE/SPUBLISH" : "SUBSCRIBE/PUBLISH";
  return new RedisReplyError(
    `${error.code} blocking waits need pub/sub: this client's wake-ups arrive on the channel '${channel}', which the server does not let this user subscribe to; grant ${commands} and the channels '${pattern}' (ACL: +@pubsub &${pattern}); locks can also wait with wait: "polling" (the server answered: ${error.message})`,
    { cause: error },
  );
}
