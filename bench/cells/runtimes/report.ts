/**
 * The report of the runtimes cell: the issue's targets per runtime, and
 * one table with every runtime's figures side by side.
 *
 * @module
 */
import { num, us, yes } from "../../shared/format.ts";
import { HOLDERS_TARGET } from "../holders/report.ts";
import type { RuntimeCell, RuntimesBenchResult, RuntimeSide } from "./types.ts";

/** The fastest (lowest p50) of `ids` that this side measured. */
function fastest(
  side: RuntimeSide,
  ids: string[],
): [string, RuntimeCell] | undefined {
  let best: [string, RuntimeCell] | undefined;
  for (const id of ids) {
    const cell = side.cells[`u:${id}`];
    if (cell && (best === undefined || cell.p50 < best[1].p50)) {
      best = [id, cell];
    }
  }
  return best;
}

const PEER_LABELS: Record<string, string> = {
  "rs-mutex": "redis-semaphore",
  "redlock": "redlock",
  "sesame": "@sesamecare-oss/redlock",
  "rs-sem": "redis-semaphore",
};

/** Issue 11's targets, met or missed, for one runtime. */
function sideTargets(side: RuntimeSide): string[] {
  const lines: string[] = [];
  const cycle: string[] = [];
  const redis: string[] = [];
  let cycleOk = true;
  let redisOk = true;
  for (
    const [ours, peers, what] of [
      ["ours-mutex", ["rs-mutex", "redlock", "sesame"], "Mutex"],
      ["ours-sem", ["rs-sem"], "Semaphore(4)"],
    ] as const
  ) {
    const mine = side.cells[`u:${ours}`];
    const best = fastest(side, [...peers]);
    if (mine && best) {
      const ok = mine.p50 <= best[1].p50;
      cycleOk &&= ok;
      cycle.push(
        `${what} ${us(mine.p50)} against ${us(best[1].p50)} us (${
          PEER_LABELS[best[0]]
        }, ${num(mine.p50 / best[1].p50, 2)}x)`,
      );
    }
    const rs = side.cells[`u:${peers[0]}`];
    if (mine && rs) {
      const ratio = mine.redisUsPerOp / rs.redisUsPerOp;
      redisOk &&= ratio <= 1.5;
      redis.push(
        `${what} ${num(mine.redisUsPerOp, 1)} against ${
          num(rs.redisUsPerOp, 1)
        } us (${num(ratio, 2)}x)`,
      );
    }
  }
  if (cycle.length > 0) {
    lines.push(
      `  - Uncontended cycle p50 <= the fastest peer's: ${yes(cycleOk)}: ${
        cycle.join("; ")
      }.`,
    );
  }
  if (redis.length > 0) {
    lines.push(
      `  - Redis time per uncontended cycle within 1.5x of redis-semaphore's: ${
        yes(redisOk)
      }: ${redis.join("; ")}.`,
    );
  }
  const wake = side.cells["wake"];
  const handoffs = Object.entries(side.cells).filter(([k]) =>
    k.startsWith("h:")
  );
  if (wake && handoffs.length > 0) {
    const ratios = handoffs.map(([k, c]) => [k.slice(2), c.p50 / wake.p50]);
    lines.push(
      `  - Blocking hand-off p50 <= 1.2x the idle floor (${us(wake.p50)} us): ${
        yes(ratios.every(([, r]) => (r as number) <= 1.2))
      }: ${
        handoffs.map(([k, c]) =>
          `W=${k.slice(2)} ${us(c.p50)} us (${num(c.p50 / wake.p50, 2)}x)`
        ).join(", ")
      }.`,
    );
  }
  const small = side.cells["holders:small"];
  const large = side.cells["holders:large"];
  if (small && large) {
    const p = large.p50 / small.p50;
    const r = large.redisUsPerOp / small.redisUsPerOp;
    lines.push(
      `  - Many holders within ${HOLDERS_TARGET}x of Semaphore(4): ${
        yes(p <= HOLDERS_TARGET && r <= HOLDERS_TARGET)
      }: p50 ${num(p, 2)}x (${us(large.p50)} against ${
        us(small.p50)
      } us), Redis ${num(r, 2)}x (${num(large.redisUsPerOp, 1)} against ${
        num(small.redisUsPerOp, 1)
      } us per cycle).`,
    );
  }
  return lines;
}

/** The section's markdown. */
export function runtimesMarkdown(result: RuntimesBenchResult): string {
  const o = result.options;
  const sides = result.sides;
  const pair = sides.length === 2 && sides.every((s) => !s.error);
  const lines: string[] = [
    "## Runtimes: Deno and Bun side by side",
    "",
    `The same code (\`bench/cells/runtimes/child.ts\`) in one process per runtime, against the same Redis; the parent alternates the runtimes step by step (each measurement runs on one, then on the other, the first alternating), ${o.rounds} rounds, percentiles over all samples. Per runtime and round: ${o.pings} sequential PINGs, ${o.idleSamples} RPUSH -> BLPOP after ${o.settleMs} ms idle, ${o.uncontendedCycles} uncontended cycles per lock (after ${o.uncontendedWarmup} unmeasured ones), ${o.handoffRounds} measured hand-offs of our blocking Mutex per W (the controlled rounds of the lock section, one lane), ${o.holders.cycles} cycles on each semaphore of the many-holders cell, alternating (then ${o.holders.statCycles} more on each for the server time) (each runtime fills its own Semaphore(${
      o.holders.permits.toLocaleString("en-US")
    }) with ${
      o.holders.holders.toLocaleString("en-US")
    } holders). Redis us is the \`usec\` of the commands each library sends itself, per cycle (per acquisition for hand-offs). The section took ${
      result.seconds.toFixed(0)
    } s.`,
    "",
    ...sides.map((side) =>
      `- ${side.runtime}: \`${side.command}\`${
        side.error ? `: **stopped**: ${side.error}` : ""
      }${
        side.open && Number.isFinite(side.open.fillSeconds)
          ? `; filled ${o.holders.holders.toLocaleString("en-US")} holders in ${
            num(side.open.fillSeconds, 1)
          } s`
          : ""
      }.`
    ),
    "",
    "### Targets of issue 11, per runtime",
    "",
  ];
  for (const side of sides) {
    lines.push(`- ${side.runtime}:`, ...sideTargets(side));
  }
  lines.push(
    "",
    "### Figures",
    "",
    `| measurement | ${
      sides.map((s) => `${s.runtime} p50 / p99 (us)`).join(" | ")
    } |${
      pair
        ? ` ${sides[1].runtime.split(" ")[0]} / ${
          sides[0].runtime.split(" ")[0]
        } p50 |`
        : ""
    } ${sides.map((s) => `${s.runtime} Redis us`).join(" | ")} |`,
    `| --- | ${sides.map(() => "---:").join(" | ")} |${pair ? " ---: |" : ""} ${
      sides.map(() => "---:").join(" | ")
    } |`,
  );
  for (const m of result.measurements) {
    const cells = sides.map((s) => s.cells[m.key]);
    const ratio = pair && cells[0] && cells[1]
      ? ` ${num(cells[1].p50 / cells[0].p50, 2)} |`
      : pair
      ? " |"
      : "";
    lines.push(
      `| ${m.label} | ${
        cells.map((c) => c ? `${us(c.p50)} / ${us(c.p99)}` : "not run").join(
          " | ",
        )
      } |${ratio} ${
        cells.map((c) =>
          c && Number.isFinite(c.redisUsPerOp) ? num(c.redisUsPerOp, 1) : ""
        ).join(" | ")
      } |`,
    );
  }
  return lines.join("\n");
}
