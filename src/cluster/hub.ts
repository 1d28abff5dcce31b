/**
 * The wake hub of a cluster client. On one server, `WakeHub` `BLMPOP`s all
 * the wake lists of a client at once; in a cluster that cannot work (one
 * `BLMPOP` may only name keys of one slot, and the lists of a client are
 * spread over every slot its primitives use). So a cluster client's hub
 * (its id starts with `~`) is told through sharded pub/sub instead: the
 * script that wakes one of its waiters `SPUBLISH`es `<id>|<message>` on the
 * channel named like the list would be (see `wake()` in
 * `_internal/lua.ts`), in the primitive's slot; no key is written, so a
 * resharding never meets a half-migrated wake list. The hub keeps ONE
 * subscriber connection per primary and `SSUBSCRIBE`s there to the
 * channels its waiters listen on.
 *
 * Pub/sub keeps nothing for later, so Redis stays the truth: the tickets of
 * a channel re-check Redis (`REARM`) once its subscription is confirmed
 * (a wake-up sent before it is found that way), and whenever it was lost:
 * the subscriber's connection dropped, the server dropped the channel (its
 * slot moved), or the slot map gave the slot to another node.
 *
 * Servers before Redis 7.0 have no sharded pub/sub (nor one that renamed
 * it away, or a user denied it by ACL): a script there finds `SPUBLISH`
 * refused and appends to the list of that name instead, and the hub, once
 * a node answered its `SSUBSCRIBE` that way (remembered per node), polls
 * the lists that node serves (`poller.ts`). No version is asked: the
 * server's answers decide, and a 7.0 node costs nothing more.
 *
 * @module
 */
import { backoff } from "../_internal/async.ts";
import { ConnectionError, RedisReplyError } from "../errors.ts";
import type { RedisReply } from "../resp/types.ts";
import { Connection } from "../client/connection.ts";
import {
  Mailboxes,
  randomHubId,
  type WakeTicket,
} from "../client/mailboxes.ts";
import type { ResolvedOptions } from "../client/options.ts";
import { fixedTarget, type Target } from "../client/target.ts";
import type { WakeSource } from "../client/topology.ts";
import { LINGER_MS } from "../client/wake_hub.ts";
import { lacksCommand } from "../client/commands.ts";
import { Poller } from "./poller.ts";
import { addressOf } from "./redirect.ts";

/** What the hub needs of the cluster topology. */
export interface ClusterHubHooks {
  /** The primary serving `key`'s slot now (after `natMap`), if known. */
  ownerOf(key: string): Target | undefined;
  /** Pops the messages of the list `key` (routed; polling only). */
  sweep(key: string, signal: AbortSignal): Promise<string[]>;
  /** Asks for a slot-map refresh. */
  refresh(): void;
}

/** How often subscribers are checked (liveness, idle lists), in ms. */
const TICK_MS = 1_000;
/** A subscriber that sent nothing for this long is pinged, in ms. */
const PING_AFTER_MS = 5_000;

interface ListState {
  listeners: number;
  idleSince: number;
  /** The subscriber it is subscribed on (or being subscribed). */
  on: Subscriber | undefined;
  confirmed: boolean;
}

/** What a subscriber's next answer will be about. */
type Expected =
  | { kind: "ssubscribe" | "sunsubscribe"; key: string; at: number }
  | { kind: "ping"; at: number };

interface Subscriber {
  readonly address: string;
  readonly target: Target;
  connection: Connection | undefined;
  readonly channels: Set<string>;
  readonly expected: Expected[];
  lastFrame: number;
}

/** Sharded pub/sub wake-ups, one subscriber connection per primary. */
export class ClusterHub implements WakeSource {
  readonly id: string;
  readonly #options: ResolvedOptions;
  readonly #hooks: ClusterHubHooks;
  readonly #mailboxes: Mailboxes;
  readonly #lists = new Map<string, ListState>();
  readonly #subscribers = new Map<string, Subscriber>();
  /** Lists waiting to be subscribed again (no owner known, node down). */
  readonly #orphans = new Set<string>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #retryDelays = backoff({ minMs: 50, maxMs: 2_000, jitter: 0.5 });
  readonly #tick: ReturnType<typeof setInterval>;
  /** Lists on nodes without sharded pub/sub. */
  readonly #poller: Poller;
  #closed = false;
  readonly #stop = new AbortController();
  #lastError: unknown;

  constructor(options: ResolvedOptions, hooks: ClusterHubHooks) {
    this.#options = options;
    this.#hooks = hooks;
    this.id = "~" + randomHubId();
    this.#mailboxes = new Mailboxes(this.id, {
      listen: (key) => this.#listen(key),
      leave: (key) => this.#leave(key),
    });
    this.#poller = new Poller({
      sweep: hooks.sweep,
      deliver: (element) => this.#mailboxes.deliver(element),
      failed: (key, error) => {
        // Lost with a connection, or the slot moved: its waiters re-check.
        this.#lastError = error;
        this.#mailboxes.rearm(new Set([key]));
      },
    }, this.#stop.signal);
    this.#tick = setInterval(() => this.#watch(), TICK_MS);
  }

  get connections(): number {
    let open = 0;
    for (const sub of this.#subscribers.values()) {
      if (sub.connection && !sub.connection.closedError) open++;
    }
    return open;
  }

  ticket(wakePrefix: string): WakeTicket {
    return this.#mailboxes.ticket(wakePrefix + this.id);
  }

  #listen(key: string): void {
    if (this.#closed) return;
    const list = this.#lists.get(key);
    if (list) {
      list.listeners++;
      return;
    }
    this.#lists.set(key, {
      listeners: 1,
      idleSince: 0,
      on: undefined,
      confirmed: false,
    });
    this.#subscribe(key);
  }

  #leave(key: string): void {
    const list = this.#lists.get(key);
    if (list && --list.listeners === 0) list.idleSince = performance.now();
  }

  /** Subscribes `key` on its owner's subscriber (or polls it). */
  #subscribe(key: string): void {
    const list = this.#lists.get(key);
    if (!list || list.on || this.#closed) return;
    const owner = this.#hooks.ownerOf(key);
    if (!owner) {
      this.#orphan(key);
      return;
    }
    if (this.#poller.lacking(addressOf(owner))) {
      this.#poller.add(key);
      return;
    }
    this.#poller.delete(key);
    const sub = this.#subscriber(owner);
    list.on = sub;
    list.confirmed = false;
    sub.channels.add(key);
    if (sub.connection) this.#write(sub, "ssubscribe", key);
  }

  #write(sub: Subscriber, kind: "ssubscribe" | "sunsubscribe", key: string) {
    try {
      sub.connection?.send([kind.toUpperCase(), key]);
      sub.expected.push({ kind, key, at: performance.now() });
    } catch {
      // Closed: its onLost handles the lists.
    }
  }

  /** The subscriber of `target`, connecting in the background. */
  #subscriber(target: Target): Subscriber {
    const address = addressOf(target);
    const known = this.#subscribers.get(address);
    if (known) return known;
    const sub: Subscriber = {
      address,
      target,
      connection: undefined,
      channels: new Set(),
      expected: [],
      lastFrame: performance.now(),
    };
    this.#subscribers.set(address, sub);
    Connection.open({
      ...this.#options,
      // RESP2: every answer comes as a plain reply, in order (see #onFrame).
      protocol: 2,
      target: fixedTarget(target),
      display: `${this.#options.tls ? "rediss" : "redis"}://${address}`,
    }, {
      onLost: () => this.#onLost(sub),
      onUnsolicited: (frame) => this.#onFrame(sub, frame),
    }, this.#stop.signal).then((connection) => {
      if (this.#subscribers.get(address) !== sub) {
        connection.close();
        return;
      }
      sub.connection = connection;
      sub.lastFrame = performance.now();
      for (const key of sub.channels) this.#write(sub, "ssubscribe", key);
    }, (error) => {
      this.#lastError = error;
      this.#onLost(sub);
    });
    return sub;
  }

  /** The subscriber's connection is gone: its lists re-check Redis. */
  #onLost(sub: Subscriber): void {
    if (this.#subscribers.get(sub.address) === sub) {
      this.#subscribers.delete(sub.address);
    }
    const keys = new Set(sub.channels);
    sub.channels.clear();
    for (const key of keys) this.#detach(key, sub);
    this.#mailboxes.rearm(keys);
    if (keys.size > 0) this.#hooks.refresh();
  }

  /** `key` is no longer subscribed on `sub`: subscribe it again later. */
  #detach(key: string, sub: Subscriber): void {
    const list = this.#lists.get(key);
    if (!list || list.on !== sub) return;
    list.on = undefined;
    list.confirmed = false;
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
      if (this.#orphans.size === 0) {
        this.#retryDelays = backoff({ minMs: 50, maxMs: 2_000, jitter: 0.5 });
      }
    }, this.#retryDelays.next().value!);
  }

  /** One answer on a subscriber connection (RESP2: in command order). */
  #onFrame(sub: Subscriber, frame: RedisReply): void {
    sub.lastFrame = performance.now();
    if (frame instanceof RedisReplyError) {
      const head = sub.expected.shift();
      if (head?.kind !== "ssubscribe") return;
      sub.channels.delete(head.key);
      if (lacksCommand(frame)) {
        // No sharded pub/sub on this node: its scripts append to the lists.
        this.#poller.markLacking(sub.address);
        const list = this.#lists.get(head.key);
        if (list?.on === sub) list.on = undefined;
        this.#subscribe(head.key);
        return;
      }
      // MOVED (the map was stale), CLUSTERDOWN, ...: again, after a refresh.
      this.#lastError = frame;
      this.#hooks.refresh();
      this.#detach(head.key, sub);
      return;
    }
    if (!Array.isArray(frame)) return;
    const kind = String(frame[0]).toLowerCase();
    const key = String(frame[1]);
    if (kind === "smessage") {
      this.#mailboxes.deliver(String(frame[2]));
    } else if (kind === "ssubscribe" || kind === "pong") {
      sub.expected.shift();
      const list = this.#lists.get(key);
      if (kind === "ssubscribe" && list?.on === sub) {
        list.confirmed = true;
        // A wake-up sent before now was missed: its waiters check Redis.
        this.#mailboxes.rearm(new Set([key]));
      }
    } else if (kind === "sunsubscribe") {
      const head = sub.expected[0];
      if (head?.kind === "sunsubscribe" && head.key === key) {
        sub.expected.shift();
        return;
      }
      // The server dropped the channel: its slot left this node.
      sub.channels.delete(key);
      this.#detach(key, sub);
      this.#mailboxes.rearm(new Set([key]));
      this.#hooks.refresh();
    }
  }

  /** The slot map changed: lists whose slot moved follow it. */
  remap(): void {
    for (const [key, list] of this.#lists) {
      const sub = list.on;
      if (!sub) {
        // Polled: its new owner may have sharded pub/sub.
        if (this.#poller.has(key)) this.#subscribe(key);
        continue;
      }
      const owner = this.#hooks.ownerOf(key);
      if (owner && addressOf(owner) === sub.address) continue;
      if (sub.connection && sub.channels.has(key)) {
        this.#write(sub, "sunsubscribe", key);
      }
      sub.channels.delete(key);
      list.on = undefined;
      list.confirmed = false;
      this.#mailboxes.rearm(new Set([key]));
      this.#subscribe(key);
    }
  }

  /** Liveness of the subscribers; idle lists dropped; polling. */
  #watch(): void {
    const now = performance.now();
    for (const [key, list] of this.#lists) {
      if (list.listeners > 0 || now - list.idleSince < LINGER_MS) continue;
      this.#lists.delete(key);
      this.#orphans.delete(key);
      this.#poller.delete(key);
      const sub = list.on;
      if (sub?.channels.delete(key)) this.#write(sub, "sunsubscribe", key);
    }
    for (const sub of [...this.#subscribers.values()]) {
      const connection = sub.connection;
      if (!connection) continue;
      if (sub.channels.size === 0 && sub.expected.length === 0) {
        this.#subscribers.delete(sub.address);
        connection.close();
        continue;
      }
      const head = sub.expected[0];
      if (head && now - head.at > this.#options.commandTimeoutMs) {
        connection.drop(
          `Subscriber connection to ${sub.address} got no answer within ${this.#options.commandTimeoutMs} ms`,
        );
      } else if (!head && now - sub.lastFrame > PING_AFTER_MS) {
        try {
          connection.send(["PING"]);
          sub.expected.push({ kind: "ping", at: now });
        } catch {
          // Closed: onLost ran.
        }
      }
    }
  }

  drop(reason: string): void {
    for (const sub of this.#subscribers.values()) sub.connection?.drop(reason);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    clearInterval(this.#tick);
    this.#poller.close();
    clearTimeout(this.#retryTimer);
    this.#mailboxes.close(
      new ConnectionError(`Client for ${this.#options.display} is closed`, {
        cause: this.#lastError,
      }),
    );
    const subs = [...this.#subscribers.values()];
    this.#subscribers.clear();
    await Promise.all(subs.map((sub) => sub.connection?.close()));
  }
}
