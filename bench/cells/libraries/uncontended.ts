/**
 * Uncontended acquire + release cycles of the libraries cell: one worker
 * per contender, the contenders in turn, the order rotated every round;
 * medians over the rounds, with the Redis commands and server time per
 * cycle from `INFO commandstats`.
 *
 * @module
 */
import type { Contender, Subject } from "../../shared/contenders.ts";
import { cellText, int, num, us } from "../../shared/format.ts";
import { timedCycles } from "../../shared/probes.ts";
import { commandDelta, commandStats } from "../../shared/redis.ts";
import { medianOf, summarize } from "../../shared/stats.ts";
import { rotate } from "../../shared/timing.ts";
import type { LockBenchResult, Rig, UncontendedResult } from "./types.ts";

/** The uncontended cycles of `contenders`, one worker each. */
export async function measureUncontended(
  rig: Rig,
  contenders: Contender[],
): Promise<UncontendedResult[]> {
  const { options, log } = rig;
  const signal = new AbortController().signal;
  const subjects = new Map<Contender, Subject>();
  const rounds = new Map<
    Contender,
    {
      p50: number;
      p99: number;
      perSec: number;
      commands: number;
      redisUs: number;
    }[]
  >(contenders.map((c) => [c, []]));
  const cycles = (subject: Subject, count: number) =>
    timedCycles(() => subject.workers[0].acquire(signal), count);
  try {
    for (const contender of contenders) {
      const name = `${rig.runId}:u:${contender.id}`;
      rig.names.add(name);
      const subject = await contender.open(rig.connections, name, 1, 0);
      subjects.set(contender, subject);
      await cycles(subject, options.uncontendedWarmup);
    }
    for (let round = 0; round < options.uncontendedRounds; round++) {
      for (const contender of rotate(contenders, round)) {
        const subject = subjects.get(contender);
        if (subject === undefined) continue;
        const before = await commandStats(rig.connections.observer);
        const start = performance.now();
        const samples = await cycles(subject, options.uncontendedCycles);
        const seconds = (performance.now() - start) / 1_000;
        const after = await commandStats(rig.connections.observer);
        const summary = summarize(samples);
        const delta = commandDelta(before, after, contender.commands);
        const commands = delta.calls / samples.length;
        rounds.get(contender)?.push({
          p50: summary.p50,
          p99: summary.p99,
          perSec: samples.length / seconds,
          commands,
          redisUs: delta.usec / samples.length,
        });
        log(
          `uncontended round ${
            round + 1
          }/${options.uncontendedRounds} ${contender.label}: p50 ${
            us(summary.p50)
          } us, p99 ${us(summary.p99)} us, ${
            Math.round(samples.length / seconds)
          } cycles/s, ${commands.toFixed(2)} commands/cycle, Redis ${
            (delta.usec / samples.length).toFixed(0)
          } us/cycle`,
        );
      }
    }
  } finally {
    await Promise.allSettled([...subjects.values()].map((s) => s.close()));
  }
  return contenders.map((contender) => {
    const list = rounds.get(contender) ?? [];
    return {
      contender,
      cyclesPerSec: medianOf(list.map((r) => r.perSec)),
      p50: medianOf(list.map((r) => r.p50)),
      p99: medianOf(list.map((r) => r.p99)),
      commandsPerCycle: medianOf(list.map((r) => r.commands)),
      redisUsPerCycle: medianOf(list.map((r) => r.redisUs)),
      roundP50: list.map((r) => r.p50),
    };
  });
}

/** The "Uncontended acquire + release" subsection; `pingUs` the floor. */
export function uncontendedMarkdown(
  result: LockBenchResult,
  pingUs: number,
): string {
  const o = result.options;
  const n = (v: number) => v.toLocaleString("en-US");
  return [
    "### Uncontended acquire + release",
    "",
    `One worker, ${n(o.uncontendedWarmup)} warm-up cycles, then ${
      n(o.uncontendedCycles)
    } timed \`acquire()\` + \`release()\` cycles per round, ${o.uncontendedRounds} rounds with the order rotated; medians over the rounds.`,
    "",
    "| lock | settings | cycles/s | p50 (us) | p99 (us) | p50 / PING | commands/cycle | Redis us/cycle |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.uncontended.map((u) =>
      `| ${cellText(u.contender.label)} | ${cellText(u.contender.settings)} | ${
        int(u.cyclesPerSec)
      } | ${us(u.p50)} | ${us(u.p99)} | ${
        ((u.p50 * 1_000) / pingUs).toFixed(2)
      } | ${num(u.commandsPerCycle, 2)} | ${num(u.redisUsPerCycle, 0)} |`
    ),
  ].join("\n");
}
