/**
 * The report of the hand-off breakdown cell: its target line and its
 * subsection.
 *
 * @module
 */
import { int, num, yes } from "../../shared/format.ts";
import type { BreakdownBenchResult, BreakdownRow, Part } from "./types.ts";

/** The hand-off p50 within this factor of the floor's p50. */
export const BREAKDOWN_TARGET = 1.2;

/** The parts that add up to the total, with their names in the report. */
const SUMMANDS: [Exclude<Part, "total">, string][] = [
  ["before", "client before send"],
  ["redis", "Redis"],
  ["wire", "wire/wake"],
  ["after", "client after wake"],
];

function signed(value: number): string {
  if (!Number.isFinite(value)) return "+ n/a";
  return `${value < 0 ? "-" : "+"} ${Math.abs(value).toFixed(0)}`;
}

/** A hand-off row's p50 over the floor's. */
export function breakdownRatio(
  row: BreakdownRow,
  floor: BreakdownRow,
): number {
  return row.parts.total.p50 / floor.parts.total.p50;
}

/** Per summand, the row's mean minus the floor's, largest first. */
function gaps(row: BreakdownRow, floor: BreakdownRow) {
  return SUMMANDS.map(([part, label]) => ({
    label,
    delta: row.parts[part].mean - floor.parts[part].mean,
  })).sort((a, b) => b.delta - a.delta);
}

/** "mean hand-off X us = floor Y us + Δ ... (label)". */
function gapSentence(row: BreakdownRow, floor: BreakdownRow): string {
  const terms = SUMMANDS.map(([part, label]) =>
    `${signed(row.parts[part].mean - floor.parts[part].mean)} us ${label}`
  );
  return `${row.label}: mean hand-off ${
    num(row.parts.total.mean, 0)
  } us = floor ${num(floor.parts.total.mean, 0)} us ${terms.join(" ")}`;
}

/** The target, as one bullet point. */
export function breakdownTargetLines(result: BreakdownBenchResult): string[] {
  const { mutex, semaphore, floor } = result;
  const ratio = breakdownRatio(mutex, floor);
  const gap = mutex.parts.total.mean - floor.parts.total.mean;
  const parts = gaps(mutex, floor);
  const share = (d: number) =>
    Number.isFinite(gap) && gap > 0
      ? ` (${((d / gap) * 100).toFixed(0)}%)`
      : "";
  const semaphoreTop = gaps(semaphore, floor)[0];
  return [
    `- Hand-off p50 within ${BREAKDOWN_TARGET}x the idle floor, broken down: ${
      yes(ratio <= BREAKDOWN_TARGET)
    }: Mutex p50 ${num(mutex.parts.total.p50, 0)} us against ${
      num(floor.parts.total.p50, 0)
    } us for an RPUSH waking a BLPOP after the same ${result.options.settleMs} ms idle, measured alongside (${
      num(ratio, 2)
    }x; Semaphore(2) with its other permit held, the general path: ${
      num(semaphore.parts.total.p50, 0)
    } us, ${num(breakdownRatio(semaphore, floor), 2)}x). Of the Mutex's ${
      num(gap, 0)
    } us of mean gap, the largest parts: ${
      parts.slice(0, 2).map((p) =>
        `${p.label} ${signed(p.delta)} us${share(p.delta)}`
      )
        .join(", then ")
    }; the rest ${
      parts.slice(2).map((p) => `${p.label} ${signed(p.delta)} us`).join(", ")
    }. For the Semaphore(2) the largest is ${semaphoreTop.label} (${
      signed(semaphoreTop.delta)
    } us).`,
  ];
}

function cellOf(row: BreakdownRow, part: Part): string {
  const f = row.parts[part];
  return `${num(f.p50, 0)} / ${num(f.mean, 0)}`;
}

/** The cell's subsection. */
export function breakdownMarkdown(result: BreakdownBenchResult): string {
  const o = result.options;
  const rows = [result.mutex, result.semaphore, result.floor];
  const row = (r: BreakdownRow) =>
    `| ${r.label} | ${int(r.samples)} (${r.dropped}) | ${
      cellOf(r, "before")
    } | ${cellOf(r, "redis")} | ${cellOf(r, "wire")} | ${
      cellOf(r, "after")
    } | ${cellOf(r, "total")} |`;
  return [
    "### Hand-off breakdown",
    "",
    `Where one blocking hand-off's time goes, against the idle floor. Two clients A and B, each connected through a tracing connector that stamps every \`write()\` and every chunk of data with \`performance.now()\` and its connection (a client's first connection is its main one, the second its wake hub's), hand a lock back and forth: once the waiter is in the queue ZSET, ${o.settleMs} ms of idling, then the holder calls \`release()\` (t0); its main connection is written to (tw, the \`EVALSHA\` of RELEASE); the waiter's wake hub connection gets the \`BLMPOP\` reply carrying the grant (th); the waiter's \`acquire()\` resolves (t1). The releaser then queues in turn. "Redis" is the server time of that one RELEASE (\`cmdstat_evalsha\` usec in \`INFO commandstats\`, read before the idling and after the hand-off; a sample whose window holds any other \`EVALSHA\`, such as a lease renewal, is dropped and counted in brackets). "On the wire and waking" is th - tw minus Redis: both trips through the loopback, the server waking, reading and serving the blocked client, and our process waking on the reply. A and B share this process's one thread: "client after wake" also holds whatever else runs then, for a hand-off the releaser's handling of its own RELEASE reply, which arrives at about the same time (for the floor, an RPUSH reply). The floor row is the same four instants for an \`RPUSH\` from the client that holds the mutex waking a \`BLPOP\` blocked on a client of its own, after the same ${o.settleMs} ms idle, with the \`RPUSH\`'s usec (\`cmdstat_rpush\`). Variants: a \`Mutex\` (RELEASE's hand-off fast path), and a \`Semaphore(2)\` whose other permit a third client holds all along, so that A and B hand the remaining one back and forth (the general path). Each step runs one hand-off of each variant and one floor, in an order that rotates from step to step: ${o.warmup} unmeasured steps, then ${
      int(o.count)
    } measured${
      result.capped ? ` (stopped at the ${o.cellMs / 1_000} s limit)` : ""
    }. The cell took ${num(result.seconds, 1)} s.`,
    "",
    "| hand-off | samples (dropped) | client before send, tw - t0: p50 / mean (us) | Redis script, commandstats (floor: the RPUSH): p50 / mean (us) | on the wire and waking: p50 / mean (us) | client after wake, t1 - th: p50 / mean (us) | total, t1 - t0: p50 / mean (us) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(row),
    "",
    `The gap, in means (means add up; medians do not): ${
      gapSentence(result.mutex, result.floor)
    }; ${gapSentence(result.semaphore, result.floor)}.`,
  ].join("\n");
}
