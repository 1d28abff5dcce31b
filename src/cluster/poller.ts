/**
 * Wake lists polled by a cluster hub where a node has no sharded pub/sub
 * (before Redis 7.0, or `SSUBSCRIBE` denied by ACL): there the wake script
 * appends to the list named like the channel (see `wake()` in
 * `_internal/lua.ts`), and the hub pops it every `POLL_MS` with
 * `LPOP key 1000`, or `LPOP key` once a server refused the count (before
 * Redis 6.2). The nodes found so are remembered by address.
 *
 * @module
 */
import { RedisReplyError } from "../errors.ts";
import type { RedisArg, RedisReply } from "../resp/types.ts";

/** Lists polled this often, in ms. */
const POLL_MS = 100;
/** Messages taken per pop. */
const BATCH = 1_000;

/** Sends one command, routed by its key. */
export type Send = (
  args: readonly RedisArg[],
  signal: AbortSignal,
) => Promise<RedisReply>;

/** A sweep function: pops `key`'s messages (none: `[]`). */
export function sweeper(
  send: Send,
): (key: string, signal: AbortSignal) => Promise<string[]> {
  let popOne = false;
  return async (key, signal) => {
    if (!popOne) {
      try {
        const reply = await send(["LPOP", key, BATCH], signal);
        return Array.isArray(reply) ? reply.map(String) : [];
      } catch (error) {
        if (
          !(error instanceof RedisReplyError) ||
          !/wrong number of arguments/i.test(error.message)
        ) throw error;
        popOne = true; // `LPOP key count` came with Redis 6.2
      }
    }
    const reply = await send(["LPOP", key], signal);
    return reply === null || reply === undefined ? [] : [String(reply)];
  };
}

/** What a {@linkcode Poller} calls. */
export interface PollerHooks {
  /** Pops `key`'s messages (see {@linkcode sweeper}). */
  sweep(key: string, signal: AbortSignal): Promise<string[]>;
  /** One message popped. */
  deliver(element: string): void;
  /** A pop failed (lost with a connection, the slot moved). */
  failed(key: string, error: unknown): void;
}

/** The lists a cluster hub polls, and the nodes that need it. */
export class Poller {
  readonly #hooks: PollerHooks;
  readonly #signal: AbortSignal;
  /** Addresses of the nodes without sharded pub/sub. */
  readonly #nodes = new Set<string>();
  readonly #lists = new Map<string, { sweeping: boolean; again: boolean }>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(hooks: PollerHooks, signal: AbortSignal) {
    this.#hooks = hooks;
    this.#signal = signal;
  }

  /** The node at `address` was found without sharded pub/sub. */
  lacking(address: string): boolean {
    return this.#nodes.has(address);
  }

  /** Remembers the node at `address` as without sharded pub/sub. */
  markLacking(address: string): void {
    this.#nodes.add(address);
  }

  /** Whether `key` is polled. */
  has(key: string): boolean {
    return this.#lists.has(key);
  }

  /** The keys polled. */
  keys(): string[] {
    return [...this.#lists.keys()];
  }

  /** Polls `key` from now on, starting with a pop now. */
  add(key: string): void {
    if (this.#signal.aborted) return;
    if (!this.#lists.has(key)) {
      this.#lists.set(key, { sweeping: false, again: false });
    }
    this.#timer ??= setInterval(() => {
      for (const key of this.#lists.keys()) this.#sweep(key);
    }, POLL_MS);
    this.#sweep(key);
  }

  /** Stops polling `key`. */
  delete(key: string): void {
    this.#lists.delete(key);
  }

  /** Stops every poll. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#lists.clear();
  }

  /** Pops `key`'s messages until it is empty (one pop at a time). */
  #sweep(key: string): void {
    const list = this.#lists.get(key);
    if (!list || this.#signal.aborted) return;
    if (list.sweeping) {
      list.again = true;
      return;
    }
    list.sweeping = true;
    (async () => {
      do {
        list.again = false;
        const elements = await this.#hooks.sweep(key, this.#signal);
        for (const element of elements) this.#hooks.deliver(element);
        if (elements.length > 0) list.again = true;
      } while (list.again && this.#lists.get(key) === list);
    })().catch((error) => this.#hooks.failed(key, error))
      .finally(() => list.sweeping = false);
  }
}
