/**
 * What the cells ask Redis about, through our client: `INFO commandstats`
 * (calls and server time per command), the server's version, the waiters
 * in a lock's queue ZSET, and the cleanup of a run's keys. Also the set of
 * clients a cell opens and closes together.
 *
 * @module
 */
import { connect, type RedisClient } from "../../mod.ts";
import { sleep } from "./timing.ts";

/** One line of `INFO commandstats`. */
export interface CommandStat {
  calls: number;
  usec: number;
}

/**
 * Parses `INFO commandstats`: `cmdstat_<name>:calls=N,usec=N,...` per line.
 * Subcommands keep Redis 7's `name|sub` form (`function|load`).
 */
export function parseCommandStats(info: string): Map<string, CommandStat> {
  const stats = new Map<string, CommandStat>();
  for (const line of info.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (match) {
      stats.set(match[1].toLowerCase(), {
        calls: Number(match[2]),
        usec: Number(match[3]),
      });
    }
  }
  return stats;
}

/** `INFO commandstats` of the server behind `redis`, parsed. */
export async function commandStats(
  redis: RedisClient,
): Promise<Map<string, CommandStat>> {
  return parseCommandStats(String(await redis.send("INFO", "commandstats")));
}

/** Calls and server time of the commands `names` between two snapshots. */
export function commandDelta(
  before: ReadonlyMap<string, CommandStat>,
  after: ReadonlyMap<string, CommandStat>,
  names: readonly string[],
): CommandStat {
  let calls = 0;
  let usec = 0;
  for (const name of names) {
    const a = after.get(name);
    if (a === undefined) continue;
    const b = before.get(name);
    calls += a.calls - (b?.calls ?? 0);
    usec += a.usec - (b?.usec ?? 0);
  }
  return { calls, usec };
}

/** The `redis_version` of the server behind `redis`. */
export async function serverVersion(redis: RedisClient): Promise<string> {
  const info = String(await redis.send("INFO", "server"));
  return /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? "unknown";
}

/** The queue ZSET of our lock `name`: its blocking waiters. */
export function queueKey(name: string): string {
  return `redsync:{${name}}:queue`;
}

/**
 * Until the queue ZSET of `name` has a member (the waiter); throws
 * `<what>: no waiter queued on <name>` after `limitMs`.
 */
export async function untilQueued(
  observer: RedisClient,
  name: string,
  limitMs: number,
  what: string,
): Promise<void> {
  const key = queueKey(name);
  const deadline = performance.now() + limitMs;
  for (let polls = 0;; polls++) {
    if (Number(await observer.send("ZCARD", key)) >= 1) return;
    if (performance.now() > deadline) {
      throw new Error(`${what}: no waiter queued on ${name}`);
    }
    if (polls > 20) await sleep(0);
  }
}

/**
 * Deletes every key whose name contains `runId`, and `names` (our lock
 * names) from `redsync:contended`.
 */
export async function deleteRun(
  redis: RedisClient,
  runId: string,
  names: Iterable<string> = [],
): Promise<void> {
  let cursor = "0";
  for (let page = 0; page < 10_000; page++) {
    const reply = await redis.send(
      "SCAN",
      cursor,
      "MATCH",
      `*${runId}*`,
      "COUNT",
      1_000,
    ) as [string, string[]];
    cursor = String(reply[0]);
    if (reply[1].length > 0) await redis.send("UNLINK", ...reply[1]);
    if (cursor === "0") break;
  }
  const all = [...names];
  for (let from = 0; from < all.length; from += 500) {
    await redis.send(
      "ZREM",
      "redsync:contended",
      ...all.slice(from, from + 500),
    );
  }
}

/** The clients a cell opens, closed together at its end. */
export class Clients {
  readonly #all: RedisClient[] = [];

  async open(url: string): Promise<RedisClient> {
    const client = await connect(url);
    this.#all.push(client);
    return client;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#all.map((c) => c.close()));
  }
}

/**
 * Connections whose `CLIENT SETNAME` is `name`, of every type: `normal` (a
 * client's main connection, its blocking pool) and `pubsub` (its wake hub's
 * subscriber, once subscribed). One `CLIENT LIST` without `TYPE`, so that a
 * connection turning into a subscriber meanwhile is counted once.
 */
export async function countConnections(
  redis: RedisClient,
  name: string,
): Promise<number> {
  const list = String(await redis.send("CLIENT", "LIST"));
  return list.split("\n").filter((line) => line.includes(` name=${name} `))
    .length;
}

/** `count` clients named `name`, opened 16 at a time (all closed on failure). */
export async function openClients(
  url: string,
  name: string,
  count: number,
): Promise<RedisClient[]> {
  const clients: RedisClient[] = [];
  try {
    while (clients.length < count) {
      const batch = Math.min(16, count - clients.length);
      const opened = await Promise.allSettled(
        Array.from({ length: batch }, () => connect({ url, clientName: name })),
      );
      for (const result of opened) {
        if (result.status === "fulfilled") clients.push(result.value);
      }
      const failed = opened.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
    }
    return clients;
  } catch (error) {
    await Promise.allSettled(clients.map((c) => c.close()));
    throw error;
  }
}
