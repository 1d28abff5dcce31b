/**
 * The report of the many-holders cell: its target line and its table.
 *
 * @module
 */
import { int, num, us, yes } from "../../shared/format.ts";
import type { CycleFigures, HoldersBenchResult } from "./types.ts";

/** The large semaphore within this factor of the small one. */
export const HOLDERS_TARGET = 2;

/** large / small of p50 and of Redis us per cycle. */
export function holdersRatios(
  small: CycleFigures,
  large: CycleFigures,
): { p50: number; redis: number } {
  return {
    p50: large.p50 / small.p50,
    redis: large.redisUsPerCycle / small.redisUsPerCycle,
  };
}

/** Whether both ratios are within {@linkcode HOLDERS_TARGET}. */
export function holdersMet(small: CycleFigures, large: CycleFigures): boolean {
  const r = holdersRatios(small, large);
  return r.p50 <= HOLDERS_TARGET && r.redis <= HOLDERS_TARGET;
}

/** The target, as bullet points. */
export function holdersTargetLines(result: HoldersBenchResult): string[] {
  const { small, large } = result;
  const r = holdersRatios(small, large);
  const total = result.afterFill.used === result.afterFill.holders &&
    result.afterCycles.used === result.afterCycles.holders &&
    result.afterFill.holders === result.options.holders &&
    result.keysAfterRelease === 0;
  return [
    `- Semaphore(${int(large.permits)}) with ${
      int(large.otherHolders)
    } live holders within ${HOLDERS_TARGET}x of Semaphore(${small.permits}) (acquire + release p50 and Redis us per cycle): ${
      yes(holdersMet(small, large))
    }: p50 ${us(large.p50)} against ${us(small.p50)} us (${
      num(r.p50, 2)
    }x), Redis ${num(large.redisUsPerCycle, 1)} against ${
      num(small.redisUsPerCycle, 1)
    } us per cycle (${num(r.redis, 2)}x). Running total: ${
      total ? "**consistent**" : "**inconsistent**"
    } (owners['#used'] ${num(result.afterFill.used, 0)} for ${
      int(result.afterFill.holders)
    } holders after the fill, ${num(result.afterCycles.used, 0)} for ${
      int(result.afterCycles.holders)
    } after the cycles; ${result.keysAfterRelease} keys or owners fields left besides the last token once all released).`,
  ];
}

/** The cell's subsection. */
export function holdersMarkdown(result: HoldersBenchResult): string {
  const o = result.options;
  const row = (label: string, f: CycleFigures) =>
    `| ${label} | ${int(f.otherHolders)} | ${int(f.cycles)} | ${us(f.p50)} | ${
      us(f.p99)
    } | ${f.roundP50.map(us).join(", ")} | ${num(f.commandsPerCycle, 2)} | ${
      num(f.redisUsPerCycle, 1)
    } |`;
  const r = holdersRatios(result.small, result.large);
  return [
    `### Many holders: Semaphore(${int(o.permits)}) with ${
      int(o.holders)
    } live holders`,
    "",
    `A filler client puts ${int(o.holders)} holders on a \`Semaphore(${
      int(o.permits)
    })\` (leases of ${
      o.fillLeaseMs / 60_000
    } min, no renewal; ${o.fillBatch} acquires in flight at a time: ${
      num(result.fillSeconds, 1)
    } s, ${
      num(result.fillRedisUsPerAcquire, 1)
    } us of Redis per acquire). Then one worker, on a client of its own, cycles \`acquire()\` + \`release()\` on it and on a \`Semaphore(${o.smallPermits})\` nobody else holds: ${o.warmup} unmeasured cycles on each, then ${o.rounds} rounds, each of ${
      int(o.cycles)
    } timed cycles on each, alternating one by one (p50, p99), then ${
      int(o.statCycles)
    } cycles on each in a batch (the first alternating from round to round) for the server time. Redis us per cycle is the \`usec\` of \`fcall\` + \`evalsha\` + \`eval\` in \`INFO commandstats\` (the scripts run as Redis Functions, \`FCALL\`, once the client has loaded them). The scripts keep a running total of the permits in use (\`owners['#used']\`) instead of walking the holders; the cell reads it after the fill and after the cycles, and counts the keys (and \`owners\` fields besides the last token, \`#token\`) left once every filler released.`,
    "",
    "| semaphore | other holders | cycles | p50 (us) | p99 (us) | p50 per round (us) | commands/cycle | Redis us/cycle |",
    "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    row(`Semaphore(${o.smallPermits})`, result.small),
    row(`Semaphore(${int(o.permits)})`, result.large),
    `| **large / small** | | | **${num(r.p50, 2)}x** | ${
      num(result.large.p99 / result.small.p99, 2)
    }x | | | **${num(r.redis, 2)}x** |`,
  ].join("\n");
}
