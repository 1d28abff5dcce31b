/**
 * Everything the client keeps for one server: its main connection
 * (reconnecting) and its pool of blocking connections. A single-server or
 * Sentinel client has one; a cluster client has one per primary.
 *
 * @module
 */
import { BlockingPool, waitOn } from "./blocking.ts";
import { unsupportedWait } from "./commands.ts";
import type { Connection } from "./connection.ts";
import { MainLink } from "./main_link.ts";
import type { ResolvedOptions } from "./options.ts";
import { type ConnectionError, RedisReplyError } from "../errors.ts";
import type { RedisArg, RedisReply } from "../resp/types.ts";
import type { BuildWrite } from "./topology.ts";

/** One server's connections. */
export class ServerNode {
  readonly options: ResolvedOptions;
  readonly #link: MainLink;
  readonly #pool: BlockingPool;

  /** `onGiveUp`: the main connection was lost and `reconnect` is `false`. */
  constructor(
    options: ResolvedOptions,
    onGiveUp: (error: ConnectionError) => void,
  ) {
    this.options = options;
    this.#pool = new BlockingPool(options, (id) => this.unblock(id));
    this.#link = new MainLink(options, (error) => {
      this.#pool.close();
      onGiveUp(error);
    });
  }

  /** Opens the main connection (rejects as `connect()` does). */
  open(): Promise<void> {
    return this.#link.open();
  }

  /** Connects in the background, with backoff (see `MainLink.openLater`). */
  openLater(failFast = false): void {
    this.#link.openLater(failFast);
  }

  /** A `lazy` client's attempt under way, before its first connection. */
  get connecting(): boolean {
    return this.#link.connecting;
  }

  /** The main connection when open, `undefined` while it reconnects. */
  get connection(): Connection | undefined {
    return this.#link.connection;
  }

  /** The main connection once (re)connected, within the command timeout. */
  whenReady(signal: AbortSignal | undefined): Promise<Connection> {
    return this.#link.whenReady(signal);
  }

  /** Connections of the blocking pool open now. */
  get blockingConnections(): number {
    return this.#pool.size;
  }

  /** Sends one command on the main connection (pipelined). */
  request(
    args: readonly RedisArg[],
    bytes: boolean,
    signal: AbortSignal | undefined,
  ): Promise<RedisReply> {
    const main = this.#link.connection;
    if (main) {
      try {
        return main.request(args, { bytes, signal });
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#link.whenReady(signal).then((connection) =>
      connection.request(args, { bytes, signal })
    );
  }

  /** Runs a blocking command on the pool. */
  blocking(
    args: readonly RedisArg[],
    bytes: boolean,
    signal: AbortSignal | undefined,
  ): Promise<RedisReply> {
    return this.#pool.run(args, bytes, signal);
  }

  /** `WAIT`/`WAITAOF` on the main connection, whose writes they count. */
  async wait(
    args: readonly RedisArg[],
    signal: AbortSignal | undefined,
  ): Promise<RedisReply> {
    signal?.throwIfAborted();
    const connection = await this.#link.whenReady(signal);
    return await waitOn(
      connection,
      args,
      signal,
      this.options.commandTimeoutMs,
      (id) =>
        this.#pool.run(["CLIENT", "UNBLOCK", id, "ERROR"], false, undefined),
    );
  }

  /**
   * The write `build` makes, then `WAIT`/`WAITAOF`, on the main connection
   * (`asking`: after `ASKING`, in a cluster). A script the server does not
   * have (`EVALSHA` answered `NOSCRIPT`: it did not run, e.g. after
   * `SCRIPT FLUSH`) is sent again whole with `EVAL`, then `WAIT` again,
   * unless `signal` aborted meanwhile.
   */
  async writeThenWait(
    build: BuildWrite,
    wait: readonly RedisArg[],
    signal: AbortSignal | undefined,
    asking = false,
  ): Promise<[RedisReply, RedisReply]> {
    signal?.throwIfAborted();
    const connection = await this.#link.whenReady(signal);
    const send = () => {
      if (asking) connection.request(["ASKING"]).catch(() => {});
      const args = build(connection.scripts);
      const write = connection.request(args, { signal });
      const waited = waitOn(
        connection,
        wait,
        signal,
        this.options.commandTimeoutMs,
        (id) =>
          this.#pool.run(["CLIENT", "UNBLOCK", id, "ERROR"], false, undefined),
      ).catch((error) => {
        throw unsupportedWait(wait, error);
      });
      waited.catch(() => {}); // the write's error is the one reported
      return { args, write, waited };
    };
    const first = send();
    try {
      return [await first.write, await first.waited];
    } catch (error) {
      const [command, sha1] = first.args;
      if (
        !(error instanceof RedisReplyError) || error.code !== "NOSCRIPT" ||
        command !== "EVALSHA"
      ) throw error;
      signal?.throwIfAborted();
      // Forgotten: `build` sends the whole script (and notes it again).
      connection.scripts.delete(String(sha1));
      const second = send();
      return [await second.write, await second.waited];
    }
  }

  /** Lends a pool connection no other command uses while `fn` runs. */
  exclusive<T>(
    fn: (connection: Connection) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    return this.#pool.exclusive(fn, signal);
  }

  /** `CLIENT UNBLOCK <id> ERROR` for one of this server's connections. */
  unblock(id: number): Promise<RedisReply> {
    return this.request(["CLIENT", "UNBLOCK", id, "ERROR"], false, undefined);
  }

  /** Calls `listener` after each reconnect of the main connection. */
  onReconnect(listener: () => void): () => void {
    return this.#link.onReconnect(listener);
  }

  /** Drops every connection as if lost: successors connect anew. */
  drop(reason: string): void {
    this.#link.drop(reason);
    this.#pool.dropIdle();
  }

  /** Closes every connection; waiting commands reject. */
  async close(): Promise<void> {
    await Promise.all([this.#link.close(), this.#pool.close()]);
  }
}
