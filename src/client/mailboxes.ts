/**
 * The waiters' side of a wake hub: one mailbox per {@linkcode WakeTicket},
 * messages handed to the waiting `next()` or kept until asked, and `REARM`
 * for tickets whose messages may have been lost. Both hubs (`WakeHub`, one
 * `BLMPOP` connection; `ClusterHub`, sharded pub/sub per node) use it, and
 * differ only in how messages reach {@linkcode Mailboxes.deliver}.
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
   * Starts listening on the ticket's wake list (the first `listen()` of a
   * list makes the hub watch it). Until then messages for this ticket wait
   * in Redis, and any that arrive anyway are kept.
   */
  listen(): void;
  /**
   * The next message for this ticket; `TIMEOUT` after `ms`; `REARM` when
   * the hub lost messages since the last call (its connection dropped).
   * Rejects with `signal.reason`, or with `ConnectionError` once the client
   * is closed.
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
  /** Settles the pending `next()`, if any. */
  deliver: ((result: WakeResult | Error) => void) | undefined;
}

/** A random hub id: 8 bytes in base 36 (the part of waiter ids naming a hub). */
export function randomHubId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(36).padStart(2, "0")).join("");
}

/** What a hub does when a list gains its first listener or loses one. */
export interface ListHooks {
  /** A ticket on `key` started listening. */
  listen(key: string): void;
  /** A listening ticket on `key` closed. */
  leave(key: string): void;
}

/** The tickets of one hub. */
export class Mailboxes {
  readonly #hubId: string;
  readonly #hooks: ListHooks;
  readonly #tickets = new Map<string, TicketState>();
  #counter = 0;
  #closedError: Error | undefined;

  constructor(hubId: string, hooks: ListHooks) {
    this.#hubId = hubId;
    this.#hooks = hooks;
  }

  /** A new ticket whose messages arrive on the list `key`. */
  ticket(key: string): WakeTicket {
    const id = `${this.#hubId}.${(this.#counter++).toString(36)}`;
    const state: TicketState = {
      key,
      listening: false,
      mailbox: [],
      missed: false,
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
   * those whose list is in `keys`.
   */
  rearm(keys?: ReadonlySet<string>): void {
    for (const state of this.#tickets.values()) {
      if (keys && !keys.has(state.key)) continue;
      state.missed = true;
      state.deliver?.(REARM);
    }
  }

  /** Every wait rejects with `error`; no ticket is left. */
  close(error: Error): void {
    this.#closedError ??= error;
    for (const state of this.#tickets.values()) state.deliver?.(error);
    this.#tickets.clear();
  }
}
