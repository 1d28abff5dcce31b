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
  const small = result.bursts[0];
  const large = result.bursts[result.bursts.length - 1];
  const perGrant = (b: typeof small) => b.allMs / b.names;
  const burstGrowth = perGrant(large) / perGrant(small);
  const fewCalls = large.blmpops <= large.names / 10;
  return [
    `- A burst of ${
      int(large.names)
    } grants on distinct names to one client, time per grant within ${INFLIGHT_TARGET}x of ${
      int(small.names)
    } names, in at most one \`BLMPOP\` per 10 grants: ${
      yes(burstGrowth <= INFLIGHT_TARGET && fewCalls)
    }: ${num(large.allMs, 0)} ms for all (${
      num(perGrant(large) * 1_000, 0)
    } us per grant, ${num(burstGrowth, 2)}x of ${int(small.names)} names), ${
      num(large.blmpops, 0)
    } \`BLMPOP\`s.`,
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
    "### Acquires in flight on one client",
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
    "",
    `Burst across names: ${
      o.burstNames.map(int).join(" or ")
    } mutexes of distinct names held on one client, one waiter on each queued on another client, all released at once (after 5 ms of idling): the time until every waiter holds, and the \`BLMPOP\` calls of the waiters' hub meanwhile (\`INFO commandstats\`). A client's wake-ups share one list, read up to 1,000 at a time; with one list per primitive (before), the hub needed one call per name.`,
    "",
    "| names | all granted (ms) | per grant (us) | BLMPOP calls | per round (ms) |",
    "| ---: | ---: | ---: | ---: | --- |",
    ...result.bursts.map((b) =>
      `| ${int(b.names)} | ${num(b.allMs, 1)} | ${
        num(b.allMs / b.names * 1_000, 0)
      } | ${num(b.blmpops, 0)} | ${
        b.roundMs.map((v) => num(v, 1)).join(", ")
      } |`
    ),
  ].join("\n");
}
