/**
 * The waiters' side of a wake hub: one mailbox per {@linkcode WakeTicket},
 * messages handed to the waiting `next()` or kept until asked, `REARM` for
 * tickets whose messages may have been lost, and a final error for tickets
 * whose channel cannot be subscribed. Both hubs (`WakeHub`: one server or
 * Sentinel; `ClusterHub`) use it through `ChannelHub`.
 *
 * @module
 */
import { deferred } from "../_internal/async.ts";

/** {@linkcode WakeTicket.next}: the wait ended without a message. */
export const TIMEOUT: unique symbol = Symbol("timeout");
/** {@linkcode WakeTicket.next}: messages may have been lost: check Redis. */
export const REARM: unique symbol = Symbol("rearm");

/** What {@linkcode WakeTicket.next} resolves. */
export type WakeResult = string | typeof TIMEOUT | typeof REARM;

/** One waiter's mailbox on a hub. */
export interface WakeTicket {
  /** The waiter's id: `<hubId>.<n>`, unique across processes. */
  readonly id: string;
  /**
   * Starts listening on the ticket's wake channel (the first `listen()` of
   * a channel makes the hub subscribe to it). Messages that arrive before
   * are kept; one sent while the channel was not subscribed is lost, and
   * the ticket gets `REARM` once it is (Redis is the truth).
   */
  listen(): void;
  /**
   * The next message for this ticket; `TIMEOUT` after `ms`; `REARM` when
   * messages may have been lost since the last call (its channel was
   * subscribed or lost). Rejects with `signal.reason`, with `ConnectionError`
   * once the client is closed, or with the server's refusal when its channel
   * cannot be subscribed (an ACL without the channel).
   */
  next(ms: number, signal: AbortSignal): Promise<WakeResult>;
  /** Done: later messages for this id are dropped. */
  close(): void;
}

interface TicketState {
  key: string;
  listening: boolean;
  mailbox: string[];
  /** Messages may have been lost since the last `next()`. */
  missed: boolean;
  /** The channel cannot be subscribed: every `next()` rejects with it. */
  failed: Error | undefined;
  /** Settles the pending `next()`, if any. */
  deliver: ((result: WakeResult | Error) => void) | undefined;
}

/** A random hub id: 8 bytes in base 36 (the part of waiter ids naming a hub). */
export function randomHubId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(36).padStart(2, "0")).join("");
}

/** What a hub does when a ticket starts or stops listening on a channel. */
export interface ChannelHooks {
  /** A ticket on the channel `key` started listening. */
  listen(key: string): void;
  /** A listening ticket on the channel `key` closed. */
  leave(key: string): void;
}

/** The tickets of one hub. */
export class Mailboxes {
  readonly #hubId: string;
  readonly #hooks: ChannelHooks;
  readonly #tickets = new Map<string, TicketState>();
  #counter = 0;
  #closedError: Error | undefined;

  constructor(hubId: string, hooks: ChannelHooks) {
    this.#hubId = hubId;
    this.#hooks = hooks;
  }

  /** A new ticket whose messages arrive on the channel `key`. */
  ticket(key: string): WakeTicket {
    const id = `${this.#hubId}.${(this.#counter++).toString(36)}`;
    const state: TicketState = {
      key,
      listening: false,
      mailbox: [],
      missed: false,
      failed: undefined,
      deliver: undefined,
    };
    this.#tickets.set(id, state);
    return {
      id,
      listen: () => {
        if (state.listening || this.#closedError) return;
        state.listening = true;
        this.#hooks.listen(key);
      },
      next: (ms, signal) => this.#next(state, ms, signal),
      close: () => this.#close(id, state),
    };
  }

  #next(
    state: TicketState,
    ms: number,
    signal: AbortSignal,
  ): Promise<WakeResult> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#closedError) return Promise.reject(this.#closedError);
    if (state.failed) return Promise.reject(state.failed);
    const queued = state.mailbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (state.missed) {
      state.missed = false;
      return Promise.resolve(REARM);
    }
    const { promise, resolve, reject } = deferred<WakeResult>();
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      state.deliver = undefined;
    };
    const onAbort = () => {
      finish();
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      finish();
      resolve(TIMEOUT);
    }, Math.max(0, ms));
    signal.addEventListener("abort", onAbort, { once: true });
    state.deliver = (result) => {
      finish();
      if (result instanceof Error) return reject(result);
      if (result === REARM) state.missed = false;
      resolve(result);
    };
    return promise;
  }

  #close(id: string, state: TicketState): void {
    if (this.#tickets.get(id) !== state) return;
    this.#tickets.delete(id);
    if (!state.listening) return;
    state.listening = false;
    this.#hooks.leave(state.key);
  }

  /** Hands `element` (`<id>|<message>`) to its ticket, if it is still here. */
  deliver(element: string): void {
    const bar = element.indexOf("|");
    const id = bar === -1 ? element : element.slice(0, bar);
    const state = this.#tickets.get(id);
    if (!state) return; // a waiter that left: Redis was told already
    const message = bar === -1 ? "" : element.slice(bar + 1);
    if (state.deliver) state.deliver(message);
    else state.mailbox.push(message);
  }

  /**
   * Tickets re-check Redis (a message may have been lost): all of them, or
   * those whose channel is in `keys`.
   */
  rearm(keys?: ReadonlySet<string>): void {
    for (const state of this.#tickets.values()) {
      if (keys && !keys.has(state.key)) continue;
      state.missed = true;
      state.deliver?.(REARM);
    }
  }

  /**
   * The tickets of the channel `key` can get no message (the server refused
   * the subscription): their waits reject with `error`, now and at every
   * later `next()`.
   */
  fail(key: string, error: Error): void {
    for (const state of this.#tickets.values()) {
      if (state.key !== key) continue;
      state.failed = error;
      state.deliver?.(error);
    }
  }

  /** Every wait rejects with `error`; no ticket is left. */
  close(error: Error): void {
    this.#closedError ??= error;
    for (const state of this.#tickets.values()) state.deliver?.(error);
    this.#tickets.clear();
  }
}
