/**
 * Blocking commands (BLPOP, BLMOVE, BZPOPMIN, WAIT, ...) on connections of
 * their own, so they never stall the pipeline of other commands, with
 * cancellation that never loses data.
 *
 * Cancelling: the blocked connection is unblocked with `CLIENT UNBLOCK id
 * ERROR` sent from another connection, never by dropping its socket while a
 * pop may be in flight. Whatever the server answers then is honoured: an
 * `UNBLOCKED` error means nothing was taken, and the promise rejects with
 * `signal.reason`; any other reply means the command was served before the
 * unblock, and the promise resolves with it, so a popped element always
 * reaches the caller.
 *
 * @module
 */
import { backoff, deferred, pause } from "../_internal/async.ts";
import { Connection } from "./connection.ts";
import { ConnectionError, RedisReplyError } from "../errors.ts";
import { blockingDeadlineMs } from "./commands.ts";
import type { ResolvedOptions } from "./options.ts";
import type { RedisArg, RedisReply } from "../resp/types.ts";

/** Sends `CLIENT UNBLOCK <id> ERROR` on a non-blocking connection. */
export type Unblocker = (id: number) => Promise<RedisReply>;

interface Waiter {
  resolve(connection: Connection): void;
  reject(error: unknown): void;
}

/** Most time spent retrying `CLIENT UNBLOCK` before closing the socket. */
const UNBLOCK_RETRY_MS = 5_000;
/** How often `waitOn` asks again after another caller's abort unblocked it. */
const MAX_FOREIGN_UNBLOCKS = 100;

/** A small pool of connections for blocking commands. */
export class BlockingPool {
  readonly #options: ResolvedOptions;
  readonly #unblock: Unblocker;
  readonly #idle: Connection[] = [];
  readonly #all = new Set<Connection>();
  readonly #waiters: Waiter[] = [];
  #opening = 0;
  readonly #openings = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: ResolvedOptions, unblock: Unblocker) {
    this.#options = options;
    this.#unblock = unblock;
  }

  /** Connections open now (idle or busy). */
  get size(): number {
    return this.#all.size;
  }

  /**
   * Runs one blocking command on a pooled connection. See the module doc
   * for what an abort does.
   */
  async run(
    args: readonly RedisArg[],
    bytes: boolean,
    signal: AbortSignal | undefined,
  ): Promise<RedisReply> {
    signal?.throwIfAborted();
    const connection = await this.#take(signal);
    let reply: RedisReply;
    try {
      reply = await this.#runOn(connection, args, bytes, signal);
    } finally {
      this.#give(connection);
    }
    return reply;
  }

  /**
   * Lends a connection that no other command uses while `fn` runs (for
   * WATCH/MULTI/EXEC). A connection `fn` leaves in a failed state is closed
   * rather than reused.
   */
  async exclusive<T>(
    fn: (connection: Connection) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    signal?.throwIfAborted();
    const connection = await this.#take(signal);
    try {
      return await fn(connection);
    } catch (error) {
      connection.close();
      throw error;
    } finally {
      this.#give(connection);
    }
  }

  async #runOn(
    connection: Connection,
    args: readonly RedisArg[],
    bytes: boolean,
    signal: AbortSignal | undefined,
  ): Promise<RedisReply> {
    // Aborted while waiting for a connection: nothing was sent.
    if (signal?.aborted) throw signal.reason;
    const reply = connection.request(args, {
      bytes,
      timeoutMs: blockingDeadlineMs(args, this.#options.commandTimeoutMs),
    });
    if (!signal) return await reply;
    let unblocking: Promise<void> | undefined;
    const onAbort = () => {
      unblocking = unblockUntilSettled(connection, reply, this.#unblock);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const value = await reply;
      // A natural timeout (null) racing the abort is no data: honour the abort.
      if (value === null && signal.aborted) throw signal.reason;
      return value;
    } catch (error) {
      if (!signal.aborted || error === signal.reason) throw error;
      const unblocked = error instanceof RedisReplyError &&
        error.code === "UNBLOCKED";
      if (unblocked || error instanceof ConnectionError) throw signal.reason;
      throw error;
    } finally {
      signal.removeEventListener("abort", onAbort);
      await unblocking;
    }
  }

  async #take(signal: AbortSignal | undefined): Promise<Connection> {
    if (this.#closed) throw this.#closedError();
    const idle = this.#idle.pop();
    if (idle) return idle;
    const { promise, resolve, reject } = deferred<Connection>();
    const waiter: Waiter = { resolve, reject };
    this.#waiters.push(waiter);
    if (this.#all.size + this.#opening < this.#options.maxBlockingConnections) {
      this.#grow();
    }
    if (!signal) return await promise;
    const onAbort = () => {
      const index = this.#waiters.indexOf(waiter);
      if (index !== -1) this.#waiters.splice(index, 1);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await promise;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Opens one more connection. It is not tied to the waiter that asked for
   * it: a waiter that gives up leaves it to the next one (or the idle list),
   * so an abort never strands a half-open socket. A failure is reported to
   * the waiter at the head of the line.
   */
  #grow(): void {
    this.#opening++;
    const lost = { connection: undefined as Connection | undefined };
    const opening = Connection.open(this.#options, {
      wantId: true,
      onLost: () => lost.connection && this.#forget(lost.connection),
    }).then((connection) => {
      this.#opening--;
      if (this.#closed) return connection.close();
      lost.connection = connection;
      this.#all.add(connection);
      this.#give(connection);
    }, (error) => {
      this.#opening--;
      // Every waiter that no connect in flight will serve fails now, rather
      // than waiting for a connection nobody is opening any more.
      const stranded = this.#waiters.length - this.#opening;
      for (const waiter of this.#waiters.splice(0, Math.max(1, stranded))) {
        waiter.reject(error);
      }
    }).finally(() => this.#openings.delete(opening));
    this.#openings.add(opening);
  }

  #give(connection: Connection): void {
    if (connection.closedError || this.#closed) {
      this.#forget(connection);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(connection);
    else this.#idle.push(connection);
  }

  #forget(connection: Connection): void {
    this.#all.delete(connection);
    const index = this.#idle.indexOf(connection);
    if (index !== -1) this.#idle.splice(index, 1);
    // A waiter may now open a fresh connection in its place.
    if (
      this.#waiters.length > this.#opening && !this.#closed &&
      this.#all.size + this.#opening < this.#options.maxBlockingConnections
    ) this.#grow();
  }

  #closedError(): ConnectionError {
    return new ConnectionError(
      `Client for ${this.#options.display} is closed`,
    );
  }

  /** Closes the idle connections (their successors connect anew). */
  dropIdle(): void {
    for (const connection of this.#idle.splice(0)) {
      this.#all.delete(connection);
      connection.close();
    }
  }

  /** Closes every pooled connection; blocked commands reject. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(this.#closedError());
    }
    const all = [...this.#all];
    this.#all.clear();
    this.#idle.length = 0;
    await Promise.all([...all.map((c) => c.close()), ...this.#openings]);
  }
}

/**
 * Unblocks `connection` until `reply` settles. `CLIENT UNBLOCK` answers 0
 * while the command is still on its way to the server (not blocked yet)
 * or already served, so it is retried with a short backoff; only when that
 * fails for `UNBLOCK_RETRY_MS`, or the server cannot be reached, is the
 * socket closed.
 */
export async function unblockUntilSettled(
  connection: Connection,
  reply: Promise<RedisReply>,
  unblock: Unblocker,
): Promise<void> {
  let settled = false;
  const done = reply.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  const id = connection.id;
  if (id === undefined) {
    // No CLIENT ID (ACL without +client): closing is the only way out.
    connection.close();
    return;
  }
  const start = performance.now();
  const delays = backoff({ minMs: 1, maxMs: 50 });
  while (!settled) {
    let unblocked: RedisReply;
    try {
      unblocked = await unblock(id);
    } catch {
      connection.close();
      return;
    }
    if (unblocked === 1 || settled) return;
    if (performance.now() - start > UNBLOCK_RETRY_MS) {
      connection.close();
      return;
    }
    await pause(delays.next().value!, undefined, done);
  }
}

/**
 * Runs `WAIT`/`WAITAOF` on `connection` (the main one, whose writes they
 * count). It blocks that connection, every command behind it waiting, until
 * the replicas answer or its timeout passes (then `graceMs` more before the
 * connection is declared dead); an abort unblocks it with `CLIENT UNBLOCK`
 * sent through `unblock` (from another connection). As that unblocks
 * whatever blocks the connection, a wait answered `UNBLOCKED` while its own
 * signal has not aborted (another caller's abort hit it) is sent again.
 */
export async function waitOn(
  connection: Connection,
  args: readonly RedisArg[],
  signal: AbortSignal | undefined,
  graceMs: number,
  unblock: Unblocker,
): Promise<RedisReply> {
  // Its id, to unblock it on abort: asked in the same write as the WAIT.
  const known = signal && connection.id === undefined
    ? connection.request(["CLIENT", "ID"]).then((id) => {
      if (typeof id === "number") connection.id = id;
    }, () => {})
    : undefined;
  const send = () =>
    connection.request(args, { timeoutMs: blockingDeadlineMs(args, graceMs) });
  let reply = send();
  let unblocking: Promise<void> | undefined;
  const onAbort = () => {
    unblocking = Promise.resolve(known).then(() =>
      unblockUntilSettled(connection, reply, unblock)
    );
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (let retries = 0;; retries++) {
      try {
        const value = await reply;
        if (signal?.aborted) throw signal.reason; // nothing to hand back
        return value;
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        // `CLIENT UNBLOCK` names a connection, not a command: another
        // caller's abort may have unblocked this one's wait (WAIT and
        // WAITAOF take nothing, so asking again loses nothing).
        const unblocked = error instanceof RedisReplyError &&
          error.code === "UNBLOCKED";
        if (!unblocked || retries >= MAX_FOREIGN_UNBLOCKS) throw error;
        reply = send();
      }
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    await unblocking;
  }
}
