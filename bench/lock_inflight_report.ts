/**
 * The report of the in-flight cell (`lock_inflight.ts`): its target line
 * and its table.
 *
 * @module
 */
import { int, num } from "./format.ts";
import type { InflightBenchResult, InflightFigures } from "./lock_inflight.ts";

/** CPU per acquire at the largest count within this factor of the smallest. */
export const INFLIGHT_TARGET = 1.5;

const yes = (ok: boolean) => ok ? "**met**" : "**missed**";

function rowsOf(
  result: InflightBenchResult,
  layout: InflightFigures["layout"],
) {
  const rows = result.rows.filter((r) => r.layout === layout);
  return { small: rows[0], large: rows[rows.length - 1] };
}

/** The target, as bullet points. */
export function inflightTargetLines(result: InflightBenchResult): string[] {
  const one = rowsOf(result, "one object");
  const per = rowsOf(result, "object per acquire");
  const growth = one.large.cpuUs / one.small.cpuUs;
  const versus = one.large.cpuUs / per.large.cpuUs;
  return [
    `- CPU per acquire with ${
      int(one.large.inFlight)
    } acquires in flight on one \`Mutex\` object within ${INFLIGHT_TARGET}x of ${
      int(one.small.inFlight)
    } in flight: ${yes(growth <= INFLIGHT_TARGET)}: ${
      num(one.large.cpuUs, 0)
    } against ${num(one.small.cpuUs, 0)} us (${num(growth, 2)}x); ${
      num(versus, 2)
    }x of one object per acquire at ${int(per.large.inFlight)} (${
      num(per.large.cpuUs, 0)
    } us).`,
  ];
}

/** The cell's subsection. */
export function inflightMarkdown(result: InflightBenchResult): string {
  const o = result.options;
  return [
    "### Acquires in flight on one object",
    "",
    `One client; ${
      o.counts.map(int).join(" or ")
    } \`acquire()\`s (no signal) started at once, each released as soon as it resolves, on ONE \`Mutex\` object (a module-level mutex that every request of a server uses), and again with one \`Mutex\` object per acquire; ${o.rounds} round(s), the order alternating, medians. CPU is the process's user + system time per acquire + release (it includes the runtime's I/O threads). Each acquire has an abort signal of its own (\`AbortScope\`); before, all of them listened on the object's one "disposed" signal, whose listener list \`EventTarget\` scans on every add and remove.`,
    "",
    "| layout | in flight | CPU per acquire (us) | CPU per round (us) | wall (s) |",
    "| --- | ---: | ---: | --- | ---: |",
    ...result.rows.map((r) =>
      `| ${r.layout} | ${int(r.inFlight)} | ${num(r.cpuUs, 0)} | ${
        r.roundCpuUs.map((v) => num(v, 0)).join(", ")
      } | ${num(r.wallS, 2)} |`
    ),
  ].join("\n");
}
