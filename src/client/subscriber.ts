/**
 * One pub/sub connection of a wake hub (`channel_hub.ts`): it subscribes
 * to channels (`SUBSCRIBE`, or `SSUBSCRIBE` for a cluster's sharded
 * channels), turns what the server sends into events for its hub
 * (confirmed, message, refused, dropped by the server, lost with the
 * connection), and watches its own liveness: a ping after silence, and a
 * drop when an answer is overdue (a half-open socket).
 *
 * The connection speaks RESP2 and writes with `Connection.send()` (no
 * reply slot), so every frame reaches `onUnsolicited` in order: the
 * answers to its commands in the order they were sent (a subscription's
 * confirmation always before its first message), with the messages
 * between them.
 *
 * @module
 */
import { RedisReplyError } from "../errors.ts";
import type { ConnectionError } from "../errors.ts";
import type { RedisReply } from "../resp/types.ts";
import { Connection } from "./connection.ts";
import type { ResolvedOptions } from "./options.ts";

/** What a subscriber tells its hub. */
export interface SubscriberEvents {
  /** `payload` arrived on `channel`. */
  message(sub: Subscriber, channel: string, payload: string): void;
  /** The server confirmed the subscription of `channel`. */
  confirmed(sub: Subscriber, channel: string): void;
  /**
   * The server refused to subscribe `channel` (it is no longer here);
   * `sharded`: it was asked with `SSUBSCRIBE`.
   */
  refused(
    sub: Subscriber,
    channel: string,
    sharded: boolean,
    error: RedisReplyError,
  ): void;
  /** The server ended the subscription of `channel` itself (a slot moved). */
  dropped(sub: Subscriber, channel: string): void;
  /**
   * The connection is gone, or could not be opened: none of `channels`
   * (subscribed or asked for) is subscribed here any more.
   */
  lost(sub: Subscriber, channels: Set<string>, error: unknown): void;
}

/** What one of its next answers will be about. */
type Expected =
  | { kind: "subscribe" | "unsubscribe"; channel: string; at: number }
  | { kind: "ping"; at: number };

/** A connection subscribed to some channels, for one hub. */
export class Subscriber {
  /** Names where it connects (one subscriber per address and hub). */
  readonly address: string;
  /** Channels subscribed or asked for: sharded (`SSUBSCRIBE`) or not. */
  readonly channels: Map<string, boolean> = new Map();
  readonly #events: SubscriberEvents;
  readonly #expected: Expected[] = [];
  #connection: Connection | undefined;
  #lastFrame = performance.now();
  #gone = false;
  /** Opening the connection; settles once it is open and set, or failed. */
  readonly #opening: Promise<void>;

  /** Connects in the background with `options` (RESP2 is forced). */
  constructor(
    address: string,
    options: ResolvedOptions,
    events: SubscriberEvents,
    signal: AbortSignal,
  ) {
    this.address = address;
    this.#events = events;
    this.#opening = Connection.open({ ...options, protocol: 2 }, {
      onLost: (error) => this.#lose(error),
      onUnsolicited: (frame) => this.#onFrame(frame),
    }, signal).then(async (connection) => {
      if (this.#gone) {
        // Closed while connecting: close() waits for this too.
        await connection.close();
        return;
      }
      this.#connection = connection;
      this.#lastFrame = performance.now();
      for (const [channel, sharded] of this.channels) {
        this.#write(sharded ? "SSUBSCRIBE" : "SUBSCRIBE", channel);
      }
    }, (error) => {
      if (!this.#gone) this.#lose(error);
    });
  }

  /** The connection is open. */
  get open(): boolean {
    return this.#connection !== undefined && !this.#connection.closedError;
  }

  /** Nothing subscribed or asked for, and no answer awaited. */
  get idle(): boolean {
    return this.channels.size === 0 && this.#expected.length === 0;
  }

  /** Subscribes `channel` (now, or once connected). */
  subscribe(channel: string, sharded: boolean): void {
    if (this.channels.has(channel)) return;
    this.channels.set(channel, sharded);
    if (this.#connection) {
      this.#write(sharded ? "SSUBSCRIBE" : "SUBSCRIBE", channel);
    }
  }

  /** Unsubscribes `channel`; its messages are not reported any more. */
  unsubscribe(channel: string): void {
    const sharded = this.channels.get(channel);
    if (sharded === undefined) return;
    this.channels.delete(channel);
    if (this.#connection) {
      this.#write(sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE", channel);
    }
  }

  /**
   * Liveness, called on the hub's tick: drops the connection when an answer
   * is more than `timeoutMs` late; pings it after `pingAfterMs` of silence.
   */
  check(now: number, timeoutMs: number, pingAfterMs: number): void {
    const connection = this.#connection;
    if (!connection) return;
    const head = this.#expected[0];
    if (head && now - head.at > timeoutMs) {
      connection.drop(
        `Subscriber connection to ${this.address} got no answer within ${timeoutMs} ms`,
      );
    } else if (!head && now - this.#lastFrame > pingAfterMs) {
      this.#write("PING");
    }
  }

  /** Drops the connection as if lost (its channels are reported lost). */
  drop(reason: string): void {
    this.#connection?.drop(reason);
  }

  /**
   * Closes the connection, or the one still being opened (resolves once it
   * is closed); nothing more is reported.
   */
  async close(): Promise<void> {
    this.#gone = true;
    const connection = this.#connection;
    this.#connection = undefined;
    await connection?.close();
    await this.#opening;
  }

  #write(command: string, channel?: string): void {
    const connection = this.#connection;
    if (!connection) return;
    try {
      connection.send(channel === undefined ? [command] : [command, channel]);
    } catch {
      return; // closed: its onLost reports the channels
    }
    const at = performance.now();
    if (channel === undefined) this.#expected.push({ kind: "ping", at });
    else {
      const kind = command.endsWith("UNSUBSCRIBE")
        ? "unsubscribe"
        : "subscribe";
      this.#expected.push({ kind, channel, at });
    }
  }

  #lose(error: ConnectionError | unknown): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#connection = undefined;
    const channels = new Set(this.channels.keys());
    this.channels.clear();
    this.#expected.length = 0;
    this.#events.lost(this, channels, error);
  }

  /** One frame on the connection (RESP2: answers in command order). */
  #onFrame(frame: RedisReply): void {
    if (this.#gone) return;
    this.#lastFrame = performance.now();
    if (frame instanceof RedisReplyError) {
      const head = this.#expected.shift();
      if (head?.kind !== "subscribe") return;
      const sharded = this.channels.get(head.channel);
      if (sharded === undefined) return;
      this.channels.delete(head.channel);
      this.#events.refused(this, head.channel, sharded, frame);
      return;
    }
    if (!Array.isArray(frame)) {
      // PING answered outside subscribed mode: "PONG".
      if (this.#expected[0]?.kind === "ping") this.#expected.shift();
      return;
    }
    const kind = String(frame[0]).toLowerCase();
    if (kind === "message" || kind === "smessage") {
      const channel = String(frame[1]);
      if (this.channels.has(channel)) {
        this.#events.message(this, channel, String(frame[2]));
      }
    } else if (kind === "subscribe" || kind === "ssubscribe") {
      this.#expected.shift();
      const channel = String(frame[1]);
      if (this.channels.has(channel)) this.#events.confirmed(this, channel);
    } else if (kind === "pong") {
      this.#expected.shift();
    } else if (kind === "unsubscribe" || kind === "sunsubscribe") {
      const channel = String(frame[1]);
      const head = this.#expected[0];
      if (head?.kind === "unsubscribe" && head.channel === channel) {
        this.#expected.shift();
        return;
      }
      // Not asked for: the server ended it (a sharded channel's slot left
      // this node).
      if (this.channels.delete(channel)) this.#events.dropped(this, channel);
    }
  }
}
