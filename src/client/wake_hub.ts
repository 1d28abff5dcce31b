/**
 * Wake-ups multiplexed per client: every waiter of every primitive on one
 * client (lock acquires, event waits) is woken through ONE blocking
 * connection, so the connections a client opens do not grow with its
 * waiters, and an idle event wait never holds a connection a lock hand-off
 * needs.
 *
 * A waiter gets a {@linkcode WakeTicket} whose id is `<hubId>.<n>`. A
 * script that wakes it (a grant, an event set) appends `<id>|<message>` to
 * the list `<prefix>:wake:<hubId>` (`SingleTopology.wakePrefix`: one list
 * per hub and key prefix, whatever the primitive), deriving the list from
 * the id. The hub `BLMPOP`s every list its waiters listen on (`BLPOP` where
 * the server answers that it has no `BLMPOP`: before 7.0, or denied by
 * ACL; found once per hub, by the first answer), taking up to 1,000 messages at once, and hands each
 * message to its ticket: a burst of grants to waiters of many primitives
 * costs one round trip, not one per primitive (with one list per primitive,
 * as before, 1,000 grants at once took 1,001 `BLMPOP`s and 562 ms; now 11
 * and 45 ms). Redis stays the truth: a message lost with a dropped connection
 * is recovered by the waiter's own re-check, which the hub triggers by
 * answering {@linkcode REARM} to every ticket when its connection is lost.
 *
 * @module
 */
import { backoff, pause } from "../_internal/async.ts";
import { ConnectionError, RedisReplyError } from "../errors.ts";
import { isTransientError } from "../_internal/transient.ts";
import { lacksCommand } from "./commands.ts";
import type { RedisReply } from "../resp/types.ts";
import { type Unblocker, unblockUntilSettled } from "./blocking.ts";
import { Connection } from "./connection.ts";
import type { ResolvedOptions } from "./options.ts";
import { Mailboxes, randomHubId, type WakeTicket } from "./mailboxes.ts";
import type { WakeSource } from "./topology.ts";

export { REARM, TIMEOUT } from "./mailboxes.ts";
export type { WakeResult, WakeTicket } from "./mailboxes.ts";

/** Server timeout of the hub's `BLMPOP`, in seconds. */
export const HUB_BLOCK_S = 2;
/** Messages taken per `BLMPOP`. */
const HUB_BATCH = 1_000;
/**
 * With `BLPOP` (one message per call), the rest of the list it popped, up
 * to `HUB_BATCH` in all, in one step: `LRANGE` and `LTRIM` in a script
 * (`LPOP key count` is 6.2, `LMPOP` 7.0; this runs on any server).
 */
const DRAIN =
  "local r = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1) " +
  "if #r > 0 then redis.call('LTRIM', KEYS[1], #r, -1) end return r";
/** A list nobody here listens to any more is dropped from the set after this long. */
export const LINGER_MS = 10_000;

interface ListState {
  listeners: number;
  /** `performance.now()` when the last listener left. */
  idleSince: number;
}

/** The per-client wake-up multiplexer. */
export class WakeHub implements WakeSource {
  /** Random per hub (per client): the part of waiter ids that names it. */
  readonly id: string;
  readonly #options: ResolvedOptions;
  readonly #unblock: Unblocker;
  readonly #mailboxes: Mailboxes;
  readonly #lists = new Map<string, ListState>();
  #connection: Connection | undefined;
  #loop: Promise<void> | undefined;
  /** The loop runs (set and cleared synchronously, unlike `#loop`). */
  #running = false;
  /** The `BLMPOP` in flight and the lists it covers. */
  #current: { reply: Promise<RedisReply>; lists: Set<string> } | undefined;
  #unblocking: Promise<void> | undefined;
  #useBlpop = false;
  #turn = 0;
  #closed = false;
  readonly #stop = new AbortController();
  #lastError: unknown;

  constructor(options: ResolvedOptions, unblock: Unblocker) {
    this.#options = options;
    this.#unblock = unblock;
    this.id = randomHubId();
    this.#mailboxes = new Mailboxes(this.id, {
      listen: (key) => this.#listen(key),
      leave: (key) => this.#leave(key),
    });
  }

  /** Connections the hub has open now (0 or 1). */
  get connections(): number {
    return this.#connection && !this.#connection.closedError ? 1 : 0;
  }

  /** A new ticket whose messages arrive on the list `wakePrefix + hubId`. */
  ticket(wakePrefix: string): WakeTicket {
    return this.#mailboxes.ticket(wakePrefix + this.id);
  }

  #listen(key: string): void {
    if (this.#closed) return;
    const list = this.#lists.get(key);
    if (list) {
      list.listeners++;
    } else {
      this.#lists.set(key, { listeners: 1, idleSince: 0 });
    }
    this.#ensureLoop();
    const current = this.#current;
    if (current && !current.lists.has(key)) this.#interrupt();
  }

  #leave(key: string): void {
    const list = this.#lists.get(key);
    if (list && --list.listeners === 0) list.idleSince = performance.now();
  }

  #ensureLoop(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    this.#loop = this.#run().catch((error) => {
      // Not expected; never left unhandled (it would end a Deno process):
      // the waiters re-check Redis, and the next listen() starts anew.
      this.#running = false;
      this.#lastError = error;
      this.#rearm();
    });
  }

  /** The BLMPOP loop: runs while any list is listened to (or lingers). */
  async #run(): Promise<void> {
    const newDelays = () => backoff({ minMs: 50, maxMs: 2_000, jitter: 0.5 });
    let delays = newDelays();
    while (!this.#closed) {
      this.#prune();
      if (this.#lists.size === 0) {
        // Marked stopped in this same step, so a listen() right after
        // starts a new loop instead of relying on this one.
        this.#running = false;
        return;
      }
      const connection = await this.#connect(delays);
      if (!connection) continue;
      const lists = new Set(this.#lists.keys());
      // BLMPOP reads the first non-empty list: rotate, so none waits behind
      // a busy one for more than a turn.
      const all = [...lists];
      const turn = this.#turn++ % all.length;
      const keys = [...all.slice(turn), ...all.slice(0, turn)];
      const args = this.#useBlpop ? ["BLPOP", ...keys, HUB_BLOCK_S] : [
        "BLMPOP",
        HUB_BLOCK_S,
        keys.length,
        ...keys,
        "LEFT",
        "COUNT",
        HUB_BATCH,
      ];
      const reply = connection.request(args, {
        timeoutMs: HUB_BLOCK_S * 1000 + this.#options.commandTimeoutMs,
      });
      this.#current = { reply, lists };
      let value: RedisReply;
      try {
        value = await reply;
      } catch (error) {
        if (error instanceof RedisReplyError) {
          if (error.code === "UNBLOCKED") continue; // the set of lists changed
          if (!this.#useBlpop && lacksCommand(error)) {
            this.#useBlpop = true; // Redis before 7.0, or denied by ACL
            continue;
          }
          // LOADING (a restarted Redis), BUSY, ...: like a lost connection,
          // wait and go on. Anything else (WRONGTYPE on a list someone
          // overwrote, NOPERM) would repeat: it is kept as the last error,
          // never thrown from here (reportError would end a Deno process),
          // and the waiters re-check Redis themselves, where such an error
          // reaches their caller.
          this.#lastError = error;
          if (!isTransientError(error)) this.#rearm();
          await pause(isTransientError(error) ? 100 : 1_000, this.#stop.signal);
          continue;
        }
        // The connection is gone; its onLost handler re-arms the tickets.
        this.#lastError = error;
        continue;
      } finally {
        this.#current = undefined;
        await this.#unblocking;
      }
      delays = newDelays();
      if (value === null) continue;
      this.#dispatch(value);
      if (this.#useBlpop) await this.#drain(connection, value);
    }
  }

  /** After a `BLPOP`, the messages left on the list it popped. */
  async #drain(connection: Connection, value: RedisReply): Promise<void> {
    const key = (value as [string, string])[0];
    try {
      const rest = await connection.request(
        ["EVAL", DRAIN, 1, key, HUB_BATCH - 1],
        { timeoutMs: this.#options.commandTimeoutMs },
      );
      if (Array.isArray(rest)) this.#dispatch([key, rest as string[]]);
    } catch (error) {
      // Left in the list (the script did not run) and popped by the next
      // BLPOP, or lost with the connection (its onLost re-arms the tickets).
      this.#lastError = error;
    }
  }

  /** The hub's connection, opened when needed; `undefined` after a failure. */
  async #connect(delays: Generator<number>): Promise<Connection | undefined> {
    const open = this.#connection;
    if (open && !open.closedError) return open;
    try {
      const connection = await Connection.open(this.#options, {
        wantId: true,
        onLost: () => this.#onLost(connection),
      }, this.#stop.signal);
      if (this.#closed) {
        await connection.close();
        return undefined;
      }
      this.#connection = connection;
      return connection;
    } catch (error) {
      this.#lastError = error;
      await pause(delays.next().value!, this.#stop.signal);
      return undefined;
    }
  }

  #onLost(connection: Connection): void {
    if (this.#connection === connection) this.#connection = undefined;
    this.#rearm();
  }

  /** Every ticket re-checks Redis: a popped message may have been lost. */
  #rearm(): void {
    this.#mailboxes.rearm();
  }

  #dispatch(value: RedisReply): void {
    // BLMPOP: [key, [element, ...]]; BLPOP: [key, element].
    const pair = value as [string, string[] | string];
    const elements = Array.isArray(pair[1]) ? pair[1] : [pair[1]];
    for (const element of elements) this.#mailboxes.deliver(element);
  }

  /** Drops lists nobody here listened to for `LINGER_MS`. */
  #prune(): void {
    const now = performance.now();
    for (const [key, list] of this.#lists) {
      if (list.listeners === 0 && now - list.idleSince >= LINGER_MS) {
        this.#lists.delete(key);
      }
    }
  }

  /** Ends the `BLMPOP` in flight so the next one covers the new lists. */
  #interrupt(): void {
    const current = this.#current;
    const connection = this.#connection;
    if (!current || !connection || this.#unblocking) return;
    this.#unblocking = unblockUntilSettled(
      connection,
      current.reply,
      this.#unblock,
    ).finally(() => this.#unblocking = undefined);
  }

  #closedError(): ConnectionError {
    return new ConnectionError(
      `Client for ${this.#options.display} is closed`,
      { cause: this.#lastError },
    );
  }

  /** Drops the hub's connection as if lost: waiters re-arm, it reconnects. */
  drop(reason: string): void {
    this.#connection?.drop(reason);
  }

  /** Closes the hub's connection; waits reject with `ConnectionError`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    this.#mailboxes.close(this.#closedError());
    const connection = this.#connection;
    this.#connection = undefined;
    await Promise.all([connection?.close(), this.#loop]);
  }
}
