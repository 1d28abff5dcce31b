/**
 * The contract between `RedisClient` and the servers behind it, the one
 * thing the client knows of them: the topologies live in
 * `src/topologies/` (one server, Sentinel's primary, a Redis Cluster), and
 * `connect()` (`src/connect/`) picks one and hands it to the client. The
 * client validates commands and picks the kind (ordinary, blocking,
 * `WAIT`); the topology picks the connection.
 *
 * @module
 */
import type { ConnectionError } from "../errors.ts";
import type { RedisArg, RedisReply } from "../resp/types.ts";
import type { WakeTicket } from "./mailboxes.ts";

/** Sends one command on a connection lent to one caller. */
export type ExclusiveSend = (...args: RedisArg[]) => Promise<RedisReply>;

/** Makes a command from the scripts a connection was sent (`EVALSHA` or `EVAL`). */
export type BuildWrite = (scripts: Set<string>) => RedisArg[];

/** What wakes waiters: a `WakeHub`, or the cluster's hub. */
export interface WakeSource {
  /** The part of waiter ids that names this hub. */
  readonly id: string;
  /** Connections the hub has open now. */
  readonly connections: number;
  /** A new ticket whose messages arrive on the channel `wakePrefix + id`. */
  ticket(wakePrefix: string): WakeTicket;
  /** Drops the hub's connections as if lost: waiters re-check Redis. */
  drop(reason: string): void;
  /** Closes the hub; waits reject with `ConnectionError`. */
  close(): Promise<void>;
}

/** A primary, for commands that must reach every one (`SCAN`). */
export interface PrimaryNode {
  /** `host:port`. */
  readonly address: string;
  /** Sends one command to this primary. */
  send(args: readonly RedisArg[]): Promise<RedisReply>;
}

/**
 * Builds the topology of a new client (`connect()` chooses which).
 * `onGiveUp`: a main connection was lost and `reconnect` is `false` (the
 * client is closed then).
 */
export type TopologyFactory = (
  onGiveUp: (error: ConnectionError) => void,
) => Topology;

/** The servers behind one client. */
export interface Topology {
  /** A Redis Cluster: each key on the primary of its slot, not one server. */
  readonly cluster: boolean;
  /** Protocol version spoken (of one main connection). */
  readonly protocol: 2 | 3;
  /**
   * Connects (rejects as `connect()` does); with `lazy`, starts connecting
   * in the background and resolves at once.
   */
  open(): Promise<void>;
  /** An ordinary command, pipelined. */
  request(
    args: readonly RedisArg[],
    bytes: boolean,
    signal: AbortSignal | undefined,
  ): Promise<RedisReply>;
  /** A blocking command, on a connection of its own. */
  blocking(
    args: readonly RedisArg[],
    bytes: boolean,
    signal: AbortSignal | undefined,
  ): Promise<RedisReply>;
  /** `WAIT`/`WAITAOF`, on the connection whose writes they count. */
  wait(
    args: readonly RedisArg[],
    signal: AbortSignal | undefined,
  ): Promise<RedisReply>;
  /**
   * A write, then `WAIT`/`WAITAOF` on the same connection (whose writes it
   * counts): the main connection of the node that owns `key`. `build` makes
   * the write from the scripts that connection was sent. Resolves with both
   * replies.
   */
  writeThenWait(
    key: RedisArg,
    build: BuildWrite,
    wait: readonly RedisArg[],
    signal: AbortSignal | undefined,
  ): Promise<[RedisReply, RedisReply]>;
  /** Runs `fn` with a connection no one else uses meanwhile. */
  exclusive<T>(
    fn: (send: ExclusiveSend) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T>;
  /** The wake hub (created on first use). */
  hub(): WakeSource;
  /**
   * The prefix of the wake channel that scripts of the primitive whose
   * keys start with `base` (under `prefix`) wake this client's waiters on,
   * `wakePrefix + hubId`: one channel per hub and prefix on one server
   * (`PUBLISH`; one subscription, whatever the number of primitives
   * waited on), the primitive's own (`base:wake:`, in its hash slot:
   * `SPUBLISH`) in a cluster.
   */
  wakePrefix(prefix: string, base: string): string;
  /** Calls `listener` after any main connection reconnects. */
  onReconnect(listener: () => void): () => void;
  /** The scripts sent on the connection a command on `key` would use. */
  loadedScripts(key: RedisArg | undefined): Set<string> | undefined;
  /**
   * No connection for a command on `key` yet, but an attempt under way
   * that such a command waits for (a `lazy` client before its first
   * connection; between attempts, it fails at once). Absent: never (a
   * cluster client has no `lazy`).
   */
  connecting?(key: RedisArg | undefined): boolean;
  /** Every primary now. */
  primaries(): Promise<PrimaryNode[]>;
  /** Closes every connection. */
  close(): Promise<void>;
}
