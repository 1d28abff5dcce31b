/**
 * Lock benchmark, `durability`: what replica-acknowledged grants cost. A
 * private primary and a replica of it (`tests/_server.ts`); two sets of
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
import {
  connect,
  type DurabilityOptions,
  type Lease,
  Mutex,
  type RedisClient,
} from "../mod.ts";
import { type RedisServer, startRedis } from "../tests/_server.ts";
import { Oracle } from "./locks.ts";
import {
  commandDelta,
  parseCommandStats,
  sleep,
  sleepUntil,
  summarize,
  type Summary,
  within,
} from "./lock_stats.ts";
import { durabilityMarkdown } from "./lock_durability_report.ts";

/** How much work the durability cells do. */
export interface DurabilityBenchOptions {
  /** Rounds; in each, both modes run every measurement, order alternating. */
  rounds: number;
  /** Sequential PINGs per mode and round, after a warm-up. */
  pings: number;
  pingWarmup: number;
  /** `SET` (+ `WAIT`) samples per mode and round, after a warm-up. */
  writes: number;
  writeWarmup: number;
  /** PINGs after `settleMs` of idling, per mode and round. */
  idleSamples: number;
  uncontendedWarmup: number;
  /** Timed acquire + release cycles per mode and round. */
  uncontendedCycles: number;
  /** The holder waits twice this long once the waiter is queued. */
  settleMs: number;
  /** Unmeasured hand-offs first, each round. */
  handoffWarmup: number;
  /** Measured hand-offs per mode and round... */
  handoffRounds: number;
  /** ...within this time. */
  cellMs: number;
  /** The setting under test. */
  durability: DurabilityOptions;
}

/** About 40 s on 2 cores. */
export const DEFAULT_DURABILITY_BENCH: DurabilityBenchOptions = {
  rounds: 4,
  pings: 3_000,
  pingWarmup: 500,
  writes: 1_000,
  writeWarmup: 200,
  idleSamples: 100,
  uncontendedWarmup: 200,
  uncontendedCycles: 1_000,
  settleMs: 5,
  handoffWarmup: 10,
  handoffRounds: 150,
  cellMs: 10_000,
  durability: { replicas: 1 },
};

/** `BENCH_QUICK=1`: two short rounds, about 10 s. */
export const QUICK_DURABILITY_BENCH: DurabilityBenchOptions = {
  ...DEFAULT_DURABILITY_BENCH,
  rounds: 2,
  pings: 500,
  pingWarmup: 200,
  writes: 200,
  writeWarmup: 50,
  idleSamples: 30,
  uncontendedWarmup: 100,
  uncontendedCycles: 200,
  handoffRounds: 50,
  cellMs: 2_000,
};

/** Which mutexes: with `durability`, or without. */
export type Mode = "without" | "with";
export const MODES: readonly Mode[] = ["without", "with"];

const perMode = <T>(make: () => T): Record<Mode, T> => ({
  without: make(),
  with: make(),
});

/** One measurement in both modes: every sample of every round, ms. */
export interface DurabilityCell {
  without: Summary;
  with: Summary;
  /** p50 of each round, ms. */
  roundP50: Record<Mode, number[]>;
  /**
   * The hand-off's own floor: a `PING` from the releaser's client after
   * `settleMs` of idling, `settleMs` before each measured release.
   */
  floor?: Record<Mode, Summary>;
  /** Some round stopped at `cellMs` before its hand-offs. */
  capped: boolean;
}

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

/** Samples of one measurement, per mode and round. */
class Samples {
  readonly rounds = perMode<number[][]>(() => []);
  readonly floors = perMode<number[]>(() => []);
  capped = false;

  add(samples: Record<Mode, number[]>, floors?: Record<Mode, number[]>) {
    for (const mode of MODES) {
      if (samples[mode].length === 0) continue;
      this.rounds[mode].push(samples[mode]);
      this.floors[mode].push(...floors?.[mode] ?? []);
    }
  }

  cell(): DurabilityCell {
    const all = (m: Mode) => summarize(this.rounds[m].flat());
    const p50s = (m: Mode) => this.rounds[m].map((r) => summarize(r).p50);
    return {
      without: all("without"),
      with: all("with"),
      roundP50: { without: p50s("without"), with: p50s("with") },
      floor: this.floors.with.length > 0
        ? {
          without: summarize(this.floors.without),
          with: summarize(this.floors.with),
        }
        : undefined,
      capped: this.capped,
    };
  }
}

function us(ms: number): string {
  return Number.isFinite(ms) ? (ms * 1_000).toFixed(0) : "n/a";
}

/**
 * Runs `step` on each side in turn, `count` times (fewer past `deadline`),
 * the order reversed every other time (ABBA...), so that both modes see
 * the same moments of this noisy machine.
 */
async function interleaved(
  sides: readonly Side[],
  round: number,
  count: number,
  step: (side: Side, i: number) => Promise<number | undefined>,
  deadline = Infinity,
): Promise<Record<Mode, number[]>> {
  const samples = perMode<number[]>(() => []);
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    const order = (i + round) % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      const sample = await step(side, i);
      if (sample !== undefined) samples[side.mode].push(sample);
    }
  }
  return samples;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

// ---------------------------------------------------------------------------
// Hand-off between two clients
// ---------------------------------------------------------------------------

/** A waiter's `acquire()`, resolved with the time it resolved. */
type Won = { lease: Lease; at: number };

/** One name: its mutex on each client, the holder's lease, the waiter. */
interface Pair {
  name: string;
  mutexes: [Mutex, Mutex];
  clients: [RedisClient, RedisClient];
  oracle: Oracle;
  holder: 0 | 1;
  lease: Lease | undefined;
  waiting: Promise<Won> | undefined;
  abort: AbortController;
}

/** Until the queue ZSET of `name` has a member (the waiter); 10 s at most. */
async function untilQueued(observer: RedisClient, name: string) {
  const key = `redsync:{${name}}:queue`;
  const deadline = performance.now() + 10_000;
  for (let polls = 0;; polls++) {
    if (Number(await observer.send("ZCARD", key)) >= 1) return;
    if (performance.now() > deadline) {
      throw new Error(`durability hand-off: no waiter queued on ${name}`);
    }
    if (polls > 20) await sleep(0);
  }
}

function wait(pair: Pair, client: 0 | 1): void {
  pair.waiting = pair.mutexes[client].acquire(pair.abort.signal).then(
    (lease) => {
      const at = performance.now();
      pair.oracle.enter();
      return { lease, at };
    },
  );
}

async function setupPair(pair: Pair): Promise<void> {
  pair.abort = new AbortController();
  pair.holder = 0;
  pair.lease = await pair.mutexes[0].acquire(AbortSignal.timeout(10_000));
  pair.oracle.enter();
  wait(pair, 1);
}

/**
 * One hand-off: the release-to-acquired latency, ms. With `floors`, after
 * a settle, a `PING` from the holder's client goes there (a round trip after
 * the same idling as the release), then another settle.
 */
async function handOff(
  pair: Pair,
  observer: RedisClient,
  settleMs: number,
  floors?: number[],
): Promise<number> {
  const releaser = pair.holder;
  await untilQueued(observer, pair.name);
  if (floors) {
    await sleepUntil(performance.now() + settleMs);
    floors.push(await timed(() => pair.clients[releaser].send("PING")));
    await sleepUntil(performance.now() + settleMs);
  }
  pair.oracle.leave();
  const start = performance.now();
  await pair.lease!.release();
  const won = await within(pair.waiting!, 10_000, `hand-off ${pair.name}`);
  pair.oracle.check();
  pair.lease = won.lease;
  pair.holder = releaser === 0 ? 1 : 0;
  wait(pair, releaser);
  return won.at - start;
}

/** The waiter stops; the holder (and a waiter that won anyway) release. */
async function closePair(pair: Pair): Promise<void> {
  pair.abort.abort();
  const won = await Promise.allSettled([pair.waiting]);
  const w = won[0];
  const leases = [
    pair.lease,
    w.status === "fulfilled" ? w.value?.lease : undefined,
  ].filter((lease) => lease !== undefined);
  pair.lease = undefined;
  pair.waiting = undefined;
  await Promise.allSettled(leases.map((lease) => {
    pair.oracle.leave();
    return lease.release();
  }));
}

// ---------------------------------------------------------------------------
// Rounds
// ---------------------------------------------------------------------------

type Cells = Record<
  "ping" | "write" | "idlePing" | "uncontended" | "handoff",
  Samples
>;

interface Context {
  options: DurabilityBenchOptions;
  runId: string;
  log(line: string): void;
  /** INFO commandstats; not used by the locks. */
  observer: RedisClient;
  waits: DurabilityBenchResult["waits"];
  writeShort: number;
}

function logPair(
  log: (line: string) => void,
  what: string,
  samples: Record<Mode, number[]>,
): void {
  log(
    `${what}: ${
      MODES.map((m) => {
        const s = summarize(samples[m]);
        return `${m} p50 ${us(s.p50)} us, p99 ${us(s.p99)} us`;
      }).join("; ")
    } (${samples.with.length} each)`,
  );
}

async function waitCalls(observer: RedisClient): Promise<number> {
  const stats = parseCommandStats(
    String(await observer.send("INFO", "commandstats")),
  );
  return commandDelta(new Map(), stats, ["wait"]).calls;
}

async function oneRound(
  ctx: Context,
  round: number,
  sides: Side[],
  cells: Cells,
): Promise<void> {
  const { options, log } = ctx;
  const tag = `round ${round + 1}/${options.rounds}`;
  const replicas = options.durability.replicas;
  const timeoutMs = options.durability.timeoutMs ?? 100;

  const ping = (side: Side) => timed(() => side.a.send("PING"));
  await interleaved(sides, round, options.pingWarmup, ping);
  const pings = await interleaved(sides, round, options.pings, ping);
  cells.ping.add(pings);
  logPair(log, `${tag} PING`, pings);

  // "with": the write and its acknowledgement, sent together (one write to
  // the socket), as the locks send EXTEND and WAIT.
  const key = `${ctx.runId}:dur:write`;
  const write = (record: boolean) => (side: Side) =>
    timed(async () => {
      if (side.mode === "without") {
        await side.a.send("SET", key, "v");
        return;
      }
      const [, acked] = await Promise.all([
        side.a.send("SET", key, "v"),
        side.a.send("WAIT", replicas, timeoutMs),
      ]);
      if (record && Number(acked) < replicas) ctx.writeShort++;
    });
  await interleaved(sides, round, options.writeWarmup, write(false));
  const writes = await interleaved(sides, round, options.writes, write(true));
  cells.write.add(writes);
  logPair(log, `${tag} SET, with: SET + WAIT ${replicas}`, writes);

  const idle = await interleaved(
    sides,
    round,
    options.idleSamples,
    async (side) => {
      await sleepUntil(performance.now() + options.settleMs);
      return await timed(() => side.a.send("PING"));
    },
  );
  cells.idlePing.add(idle);
  logPair(log, `${tag} PING after ${options.settleMs} ms idle`, idle);

  const cycle = (side: Side) =>
    timed(async () => {
      const lease = await side.uncontended.acquire();
      await lease.release();
    });
  await interleaved(sides, round, options.uncontendedWarmup, cycle);
  const waitsBefore = await waitCalls(ctx.observer);
  const unc = await interleaved(
    sides,
    round,
    options.uncontendedCycles,
    cycle,
  );
  ctx.waits.uncontended.waits += await waitCalls(ctx.observer) - waitsBefore;
  ctx.waits.uncontended.grants += unc.with.length;
  cells.uncontended.add(unc);
  logPair(log, `${tag} uncontended acquire + release`, unc);

  const started = performance.now();
  const floors = perMode<number[]>(() => []);
  const pairs = sides.map((side) => side.handoff);
  try {
    for (const pair of pairs) await setupPair(pair);
    const step = (side: Side) =>
      handOff(side.handoff, ctx.observer, options.settleMs);
    await interleaved(sides, round, options.handoffWarmup, step);
    const before = await waitCalls(ctx.observer);
    const samples = await interleaved(
      sides,
      round,
      options.handoffRounds,
      (side) =>
        handOff(
          side.handoff,
          ctx.observer,
          options.settleMs,
          floors[side.mode],
        ),
      performance.now() + options.cellMs,
    );
    ctx.waits.handoff.waits += await waitCalls(ctx.observer) - before;
    ctx.waits.handoff.grants += samples.with.length;
    cells.handoff.add(samples, floors);
    cells.handoff.capped ||= MODES.some((m) =>
      samples[m].length < options.handoffRounds
    );
    logPair(
      log,
      `${tag} hand-off, ${
        ((performance.now() - started) / 1_000).toFixed(1)
      } s`,
      samples,
    );
  } finally {
    await Promise.allSettled(pairs.map(closePair));
  }
}

async function serverVersion(redis: RedisClient): Promise<string> {
  const info = String(await redis.send("INFO", "server"));
  return /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? "unknown";
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
  const clients: RedisClient[] = [];
  const mutexes: Mutex[] = [];
  const open = async (target: string) => {
    const client = await connect(target);
    clients.push(client);
    return client;
  };
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
      result.skipped = `the primary and its replica did not start: ${
        error instanceof Error ? error.message.split("\n")[0] : String(error)
      }`;
      log(`skipped: ${result.skipped}`);
      result.seconds = (performance.now() - started) / 1_000;
      return result;
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
        handoff: {
          name: handoffName,
          mutexes: [make(a, handoffName), make(b, handoffName)],
          clients: [a, b],
          oracle: new Oracle(1, `${mode} ${handoffName}`),
          holder: 0,
          lease: undefined,
          waiting: undefined,
          abort: new AbortController(),
        },
      });
    }
    // "with" first in even rounds (and samples), "without" first in odd.
    sides.reverse();
    const cells: Cells = {
      ping: new Samples(),
      write: new Samples(),
      idlePing: new Samples(),
      uncontended: new Samples(),
      handoff: new Samples(),
    };
    for (let round = 0; round < options.rounds; round++) {
      await oneRound(ctx, round, sides, cells);
    }
    result.ping = cells.ping.cell();
    result.write = cells.write.cell();
    result.idlePing = cells.idlePing.cell();
    result.uncontended = cells.uncontended.cell();
    result.handoff = cells.handoff.cell();
    result.writeShort = ctx.writeShort;
    result.seconds = (performance.now() - started) / 1_000;
    return result;
  } finally {
    await Promise.allSettled(mutexes.map((m) => m[Symbol.asyncDispose]()));
    await Promise.allSettled(clients.map((c) => c.close()));
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
