/**
 * Lock benchmark, `durability`: what replica-acknowledged grants cost. A
 * private primary and a replica of it (`harness/server.ts`); two sets of
 * clients of the primary, one whose mutexes have
 * `durability: { replicas: 1 }` ("with") and one whose mutexes have not
 * ("without"), measured interleaved sample by sample (with, without, then
 * without, with, ...):
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
 * hand-off counts the holders; two at once throws a `ViolationError`.
 *
 * Runs in `deno task bench` (section `durability`; it starts its own two
 * servers, whatever `REDIS_URL` says), or alone:
 * `deno run -A bench/lock_durability.ts` (`BENCH_QUICK=1` for a short run),
 * which prints the markdown.
 *
 * @module
 */
import process from "node:process";
import { type DurabilityOptions, Mutex, type RedisClient } from "../mod.ts";
import { type RedisServer, startRedis } from "../harness/server.ts";
import { Oracle } from "./locks.ts";
import { commandDelta, parseCommandStats, sleep } from "./lock_stats.ts";
import * as ab from "./interleave.ts";
import { handoffRound, HandoffRun, makePair, type Pair } from "./handoff.ts";
import { durabilityMarkdown } from "./lock_durability_report.ts";

/** How much work the durability cells do. */
export interface DurabilityBenchOptions extends ab.InterleavedBenchOptions {
  /** `SET` (+ `WAIT`) samples per mode and round, after a warm-up. */
  writes: number;
  writeWarmup: number;
  /** The setting under test. */
  durability: DurabilityOptions;
}

/** About 40 s on 2 cores. */
export const DEFAULT_DURABILITY_BENCH: DurabilityBenchOptions = {
  ...ab.DEFAULT_INTERLEAVED_BENCH,
  writes: 1_000,
  writeWarmup: 200,
  durability: { replicas: 1 },
};

/** `BENCH_QUICK=1`: two short rounds, about 10 s. */
export const QUICK_DURABILITY_BENCH: DurabilityBenchOptions = {
  ...DEFAULT_DURABILITY_BENCH,
  ...ab.QUICK_INTERLEAVED_BENCH,
  writes: 200,
  writeWarmup: 50,
};

/** Which mutexes: with `durability`, or without. */
export type Mode = "without" | "with";
export const MODES: readonly Mode[] = ["without", "with"];

/**
 * One measurement in both modes: every sample of every round, ms. The
 * hand-off's own `floor`: a `PING` from the releaser's client after
 * `settleMs` of idling, `settleMs` before each measured release. `capped`:
 * some round stopped at `cellMs` before its hand-offs.
 */
export type DurabilityCell = ab.Cell<Mode>;

/** `WAIT` calls and grants over the measured parts of a cell ("with"). */
export interface WaitCount {
  waits: number;
  grants: number;
}

/** Everything {@linkcode benchDurability} measured. */
export interface DurabilityBenchResult {
  options: DurabilityBenchOptions;
  /** Set when the servers could not be set up: nothing was measured. */
  skipped?: string;
  primaryUrl: string;
  replicaUrl: string;
  version: string;
  /** Seconds from starting the primary to the replica being online. */
  startSeconds: number;
  ping?: DurabilityCell;
  /** "without": `SET`; "with": `SET` + `WAIT` on one connection. */
  write?: DurabilityCell;
  idlePing?: DurabilityCell;
  uncontended?: DurabilityCell;
  handoff?: DurabilityCell;
  /** `WAIT` per grant of the "with" mutexes, per lock cell. */
  waits: { uncontended: WaitCount; handoff: WaitCount };
  /** `WAIT` replies in the write cell below the replicas asked for. */
  writeShort: number;
  /** `shortfall` events of the "with" mutexes, whole run. */
  shortfalls: number;
  seconds: number;
}

/** One mode's clients and mutexes. */
interface Side {
  mode: Mode;
  /** Holds the uncontended mutex and one side of the hand-off. */
  a: RedisClient;
  /** The other side of the hand-off. */
  b: RedisClient;
  uncontended: Mutex;
  handoff: Pair;
}

/** The two modes, sampled in turn. */
const SAMPLER = new ab.Interleave(MODES, [], (s: Side) => s.mode);

// ---------------------------------------------------------------------------
// Rounds
// ---------------------------------------------------------------------------

const CELLS = [
  "ping",
  "write",
  "idlePing",
  "uncontended",
  "handoff",
] as const;
type Cells = Record<(typeof CELLS)[number], ab.Samples<Mode>>;

interface Context {
  options: DurabilityBenchOptions;
  runId: string;
  log(line: string): void;
  /** INFO commandstats; not used by the locks. */
  observer: RedisClient;
  waits: DurabilityBenchResult["waits"];
  writeShort: number;
}

async function waitCalls(observer: RedisClient): Promise<number> {
  const stats = parseCommandStats(
    String(await observer.send("INFO", "commandstats")),
  );
  return commandDelta(new Map(), stats, ["wait"]).calls;
}

async function oneRound(
  ctx: Context,
  round: ab.Round<Mode, never, Side>,
  cells: Cells,
): Promise<void> {
  const { options, observer } = ctx;
  const replicas = options.durability.replicas;
  const timeoutMs = options.durability.timeoutMs ?? 100;

  await round.pings(cells.ping, options, (side) => side.a);

  // "with": the write and its acknowledgement, sent together (one write to
  // the socket), as the locks send EXTEND and WAIT.
  const key = `${ctx.runId}:dur:write`;
  await round.measure(cells.write, `SET, with: SET + WAIT ${replicas}`, {
    warmup: options.writeWarmup,
    count: options.writes,
    step: (side, _, record) =>
      ab.timed(async () => {
        if (side.mode === "without") {
          await side.a.send("SET", key, "v");
          return;
        }
        const [, acked] = await Promise.all([
          side.a.send("SET", key, "v"),
          side.a.send("WAIT", replicas, timeoutMs),
        ]);
        if (record && Number(acked) < replicas) ctx.writeShort++;
      }),
  });

  await round.idlePings(cells.idlePing, options, (side) => side.a);

  let before = 0;
  const waitsBefore = async () => {
    before = await waitCalls(observer);
  };
  const unc = await round.measure(
    cells.uncontended,
    "uncontended acquire + release",
    {
      warmup: options.uncontendedWarmup,
      count: options.uncontendedCycles,
      step: (side) => ab.cycle(side.uncontended),
      beforeMeasured: waitsBefore,
    },
  );
  ctx.waits.uncontended.waits += await waitCalls(observer) - before;
  ctx.waits.uncontended.grants += unc.with.length;

  const started = performance.now();
  await handoffRound(
    round,
    (side) =>
      new HandoffRun([side.handoff], {
        observer,
        settleMs: options.settleMs,
        probe: (client) => client.send("PING"),
        what: "durability",
      }),
    {
      warmup: options.handoffWarmup,
      count: options.handoffRounds,
      cellMs: options.cellMs,
      beforeMeasured: waitsBefore,
      afterMeasured: async ({ samples, floors, capped }) => {
        ctx.waits.handoff.waits += await waitCalls(observer) - before;
        ctx.waits.handoff.grants += samples.with.length;
        cells.handoff.add(samples, floors);
        cells.handoff.capped ||= capped;
        round.report(
          `hand-off, ${((performance.now() - started) / 1_000).toFixed(1)} s`,
          samples,
        );
      },
    },
  );
}

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
  log: (line: string) => void,
  options: DurabilityBenchOptions = DEFAULT_DURABILITY_BENCH,
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
  const clients = new ab.Clients();
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
      return ab.skip(result, started, log, why, error);
    }
    result.startSeconds = (performance.now() - started) / 1_000;
    result.version = await ab.serverVersion(observer);
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

if (import.meta.main) {
  const quick = process.env.BENCH_QUICK === "1";
  const result = await benchDurability(
    (line) => console.log(`[durability] ${line}`),
    quick ? QUICK_DURABILITY_BENCH : DEFAULT_DURABILITY_BENCH,
  );
  console.log(`\n${durabilityMarkdown(result)}`);
}
