/**
 * The durability cell: what replica-acknowledged grants cost. A private
 * primary and a replica of it (`harness/server.ts`); two sets of clients of
 * the primary, one whose mutexes have `durability: { replicas: 1 }`
 * ("with") and one whose mutexes have not ("without"), measured
 * interleaved sample by sample (with, without, then without, with, ...;
 * `rounds.ts`):
 *
 * 1. floor: sequential `PING`; a `SET` alone ("without") against a `SET`
 *    and `WAIT 1 <timeoutMs>` written together on one connection ("with"):
 *    the replica's acknowledgement alone; a `PING` after `settleMs` idle;
 * 2. uncontended `Mutex` acquire + release cycles, one client;
 * 3. hand-off between two clients: one holds, the other waits; once the
 *    waiter is in the queue ZSET, `settleMs`, a timed `PING` from the
 *    holder's client (the cell's floor), `settleMs` more, then the holder
 *    releases, and the time from its `release()` call to the waiter's
 *    `acquire()` resolving is recorded; the releaser then waits in turn.
 *
 * With durability each grant is followed by `EXTEND` and `WAIT` on one
 * connection before `acquire()` resolves; `INFO commandstats` counts the
 * `WAIT` calls per grant, and every `shortfall` event is counted. Every
 * hand-off counts the holders; two at once throws a `ViolationError`. It
 * starts its own two servers, whatever `REDIS_URL` says.
 *
 * @module
 */
import { Mutex, type RedisClient } from "../../../mod.ts";
import { type RedisServer, startRedis } from "../../../harness/server.ts";
import { makePair } from "../../shared/ab/handoff.ts";
import { skip } from "../../shared/ab/options.ts";
import { Oracle } from "../../shared/oracle.ts";
import { Clients, serverVersion } from "../../shared/redis.ts";
import { sleep } from "../../shared/timing.ts";
import type { Cell, CellContext } from "../types.ts";
import { durabilityMarkdown } from "./report.ts";
import { CELLS, type Context, oneRound, SAMPLER, type Side } from "./rounds.ts";
import {
  DEFAULT_DURABILITY_BENCH,
  type DurabilityBenchOptions,
  type DurabilityBenchResult,
  MODES,
  QUICK_DURABILITY_BENCH,
} from "./types.ts";

/** Until the primary reports its replica online (bounded: 10 s). */
async function untilReplicaOnline(primary: RedisClient): Promise<void> {
  let info = "";
  for (let i = 0; i < 100; i++) {
    info = String(await primary.send("INFO", "replication"));
    if (/connected_slaves:1\b/.test(info) && /state=online/.test(info)) {
      return;
    }
    await sleep(100);
  }
  throw new Error(
    `the replica was not online within 10 s: ${
      info.replace(/\r?\n/g, " ").trim()
    }`,
  );
}

/**
 * Starts a primary and a replica, runs the measurements with and without
 * `durability`, and stops both servers. When they cannot be set up, returns
 * a result with `skipped` set instead of throwing.
 */
export async function benchDurability(
  { log, options }: CellContext<DurabilityBenchOptions>,
): Promise<DurabilityBenchResult> {
  const started = performance.now();
  const result: DurabilityBenchResult = {
    options,
    primaryUrl: "",
    replicaUrl: "",
    version: "",
    startSeconds: NaN,
    waits: {
      uncontended: { waits: 0, grants: 0 },
      handoff: { waits: 0, grants: 0 },
    },
    writeShort: 0,
    shortfalls: 0,
    seconds: NaN,
  };
  const servers: RedisServer[] = [];
  const clients = new Clients();
  const mutexes: Mutex[] = [];
  const open = (target: string) => clients.open(target);
  try {
    let observer: RedisClient;
    try {
      const primary = await startRedis({
        args: ["--repl-diskless-sync-delay", "0"],
      });
      servers.push(primary);
      const replica = await startRedis({
        args: ["--replicaof", "127.0.0.1", String(primary.port)],
      });
      servers.push(replica);
      result.primaryUrl = primary.url;
      result.replicaUrl = replica.url;
      observer = await open(primary.url);
      await untilReplicaOnline(observer);
    } catch (error) {
      const why = "the primary and its replica did not start";
      return skip(result, started, log, why, error);
    }
    result.startSeconds = (performance.now() - started) / 1_000;
    result.version = await serverVersion(observer);
    log(
      `primary ${result.primaryUrl} and replica ${result.replicaUrl} online in ${
        result.startSeconds.toFixed(1)
      } s`,
    );
    const ctx: Context = {
      options,
      runId: `lockbench-${crypto.randomUUID().slice(0, 8)}`,
      log,
      observer,
      waits: result.waits,
      writeShort: 0,
    };
    const sides: Side[] = [];
    for (const mode of MODES) {
      const a = await open(result.primaryUrl);
      const b = await open(result.primaryUrl);
      const lockOptions = mode === "with"
        ? { durability: options.durability }
        : {};
      const make = (client: RedisClient, name: string) => {
        const mutex = new Mutex(client, name, lockOptions);
        mutex.addEventListener("shortfall", () => result.shortfalls++);
        mutexes.push(mutex);
        return mutex;
      };
      const handoffName = `${ctx.runId}:dur:${mode}:handoff`;
      sides.push({
        mode,
        a,
        b,
        uncontended: make(a, `${ctx.runId}:dur:${mode}:uncontended`),
        handoff: makePair(
          handoffName,
          [a, b],
          (client) => make(client, handoffName),
          new Oracle(1, `${mode} ${handoffName}`),
        ),
      });
    }
    // "with" first in even rounds (and samples), "without" first in odd.
    sides.reverse();
    await SAMPLER.rounds(
      result,
      CELLS,
      sides,
      ctx,
      (round, cells) => oneRound(ctx, round, cells),
    );
    result.writeShort = ctx.writeShort;
    result.seconds = (performance.now() - started) / 1_000;
    return result;
  } finally {
    await Promise.allSettled(mutexes.map((m) => m[Symbol.asyncDispose]()));
    await clients.close();
    // The replica first, so that it does not log its primary's loss.
    for (const server of servers.reverse()) {
      try {
        await server.stop();
      } catch (error) {
        log(`stopping ${server.url} failed: ${String(error)}`);
      }
    }
    if (servers.length > 0) log("primary and replica stopped");
  }
}

/** The cell: starts its own primary and replica. */
export const durabilityCell: Cell<
  DurabilityBenchOptions,
  DurabilityBenchResult
> = {
  id: "durability",
  section: "durability",
  about:
    "the uncontended cycle and the hand-off with durability: { replicas: 1 } against without, on a primary and a replica",
  options: { full: DEFAULT_DURABILITY_BENCH, quick: QUICK_DURABILITY_BENCH },
  run: benchDurability,
  render: (result) => ({ markdown: durabilityMarkdown(result) }),
};
