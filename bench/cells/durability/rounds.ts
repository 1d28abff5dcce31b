/**
 * The rounds of the durability cell: in each, the floors (PING, a write
 * with and without its acknowledgement, an idle PING), the uncontended
 * cycle and the hand-off, on mutexes without and with `durability`,
 * interleaved sample by sample; the `WAIT` calls per grant.
 *
 * @module
 */
import type { Mutex, RedisClient } from "../../../mod.ts";
import {
  handoffRound,
  HandoffRun,
  type Pair,
} from "../../shared/ab/handoff.ts";
import * as ab from "../../shared/ab/sampler.ts";
import { timedCycle } from "../../shared/probes.ts";
import { commandDelta, commandStats } from "../../shared/redis.ts";
import { timed } from "../../shared/timing.ts";
import {
  type DurabilityBenchOptions,
  type DurabilityBenchResult,
  type Mode,
  MODES,
} from "./types.ts";

/** One mode's clients and mutexes. */
export interface Side {
  mode: Mode;
  /** Holds the uncontended mutex and one side of the hand-off. */
  a: RedisClient;
  /** The other side of the hand-off. */
  b: RedisClient;
  uncontended: Mutex;
  handoff: Pair;
}

/** The two modes, sampled in turn. */
export const SAMPLER = new ab.Interleave(MODES, [], (s: Side) => s.mode);

export const CELLS = [
  "ping",
  "write",
  "idlePing",
  "uncontended",
  "handoff",
] as const;
type Cells = Record<(typeof CELLS)[number], ab.Samples<Mode>>;

export interface Context {
  options: DurabilityBenchOptions;
  runId: string;
  log(line: string): void;
  /** INFO commandstats; not used by the locks. */
  observer: RedisClient;
  waits: DurabilityBenchResult["waits"];
  writeShort: number;
}

/** `WAIT` calls so far on the server behind `observer`. */
async function waitCalls(observer: RedisClient): Promise<number> {
  return commandDelta(new Map(), await commandStats(observer), ["wait"]).calls;
}

export async function oneRound(
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
      step: (side) => timedCycle(() => side.uncontended.acquire()),
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
