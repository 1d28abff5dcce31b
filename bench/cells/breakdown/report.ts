/**
 * The report of the hand-off breakdown cell: its target line and its
 * subsection.
 *
 * @module
 */
import { int, num, yes } from "../../shared/format.ts";
import type { BreakdownBenchResult, BreakdownRow, Part } from "./types.ts";

/** The hand-off p50 within this factor of the idle floor's p50. */
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

/** A hand-off row's p50 over a floor's (NaN without that floor). */
export function breakdownRatio(
  row: BreakdownRow,
  floor: BreakdownRow | undefined,
): number {
  return floor ? row.parts.total.p50 / floor.parts.total.p50 : NaN;
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
  const pubsub = result.pubsubFloor;
  const toPubsub = pubsub
    ? ` Against the wake-ups' own floor (a PUBLISH reaching a connection SUBSCRIBEd to its channel, after the same idle: ${
      num(pubsub.parts.total.p50, 0)
    } us p50, the RPUSH -> BLPOP floor ${
      num(breakdownRatio(floor, pubsub), 2)
    }x of it): Mutex ${num(breakdownRatio(mutex, pubsub), 2)}x, Semaphore(2) ${
      num(breakdownRatio(semaphore, pubsub), 2)
    }x.`
    : ` The PUBLISH -> SUBSCRIBE floor did not run: ${result.pubsubSkipped}.`;
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
    } us).${toPubsub}`,
  ];
}

/** How the kept RELEASEs ran: as `FCALL`, or some as `EVALSHA`. */
function viaFunction(result: BreakdownBenchResult): string {
  const rows = [result.mutex, result.semaphore];
  const via = rows.reduce((sum, r) => sum + (r.viaFunction ?? 0), 0);
  const kept = rows.reduce((sum, r) => sum + r.samples, 0);
  return via === kept
    ? `; here all ${int(kept)} RELEASEs kept ran as \`FCALL\``
    : `; here ${int(via)} of the ${
      int(kept)
    } RELEASEs kept ran as \`FCALL\`, the others as \`EVALSHA\``;
}

function cellOf(row: BreakdownRow, part: Part): string {
  const f = row.parts[part];
  return `${num(f.p50, 0)} / ${num(f.mean, 0)}`;
}

/** The cell's subsection. */
export function breakdownMarkdown(result: BreakdownBenchResult): string {
  const o = result.options;
  const rows = [result.mutex, result.semaphore, result.floor];
  if (result.pubsubFloor) rows.push(result.pubsubFloor);
  const pubsub = result.pubsubFloor;
  const ratios = (r: BreakdownRow) =>
    r === result.floor
      ? "1.00"
      : `${num(breakdownRatio(r, result.floor), 2)}${
        pubsub ? `, ${num(breakdownRatio(r, pubsub), 2)}` : ""
      }`;
  const row = (r: BreakdownRow) =>
    `| ${r.label} | ${int(r.samples)} (${r.dropped}) | ${
      cellOf(r, "before")
    } | ${cellOf(r, "redis")} | ${cellOf(r, "wire")} | ${
      cellOf(r, "after")
    } | ${cellOf(r, "total")} | ${ratios(r)} |`;
  return [
    "### Hand-off breakdown",
    "",
    `Where one blocking hand-off's time goes, against the idle floor and the wake-ups' own floor. Two clients A and B, each connected through a tracing connector that stamps every \`write()\` and every chunk of data with \`performance.now()\` and its connection (a client's first connection is its main one, the second its wake hub's subscriber, the one that wrote a \`SUBSCRIBE\`), hand a lock back and forth: once the waiter is in the queue ZSET, ${o.settleMs} ms of idling, then the holder calls \`release()\` (t0); its main connection is written to (tw, the \`FCALL\` of RELEASE, or \`EVALSHA\` before the client has loaded its library); the waiter's wake hub connection gets the published wake-up (th: RELEASE \`PUBLISH\`es the grant on the waiter's hub channel, which the server pushes on that subscriber connection); the waiter's \`acquire()\` resolves (t1). The releaser then queues in turn. "Redis" is the server time of that one RELEASE (\`cmdstat_fcall\` + \`cmdstat_evalsha\` usec in \`INFO commandstats\`, read before the idling and after the hand-off, its \`PUBLISH\` included; a sample whose window holds any other script run, such as a lease renewal, or an \`EVAL\`, is dropped and counted in brackets${
      viaFunction(result)
    }). "On the wire and waking" is th - tw minus Redis: both trips through the loopback, the server waking, reading and serving the waiting client, and our process waking on the data. A and B share this process's one thread: "client after wake" also holds whatever else runs then, for a hand-off the releaser's handling of its own RELEASE reply, which arrives at about the same time (for the floors, an RPUSH or PUBLISH reply). The idle floor row (the issue's: the target is a ratio to it) is the same four instants for an \`RPUSH\` from the client that holds the mutex waking a \`BLPOP\` blocked on a client of its own, after the same ${o.settleMs} ms idle, with the \`RPUSH\`'s usec (\`cmdstat_rpush\`). The wake-up floor row is the mechanism of the new wake-ups without the lock and the hub: a \`PUBLISH\` from the same client reaching a bare connection \`SUBSCRIBE\`d to its channel (traced too; it reads the RESP itself, and t1 is taken in a promise callback once the message is whole), after the same ${o.settleMs} ms idle, with the \`PUBLISH\`'s usec (\`cmdstat_publish\`)${
      pubsub ? "" : ` (it did not run: ${result.pubsubSkipped})`
    }. Variants: a \`Mutex\` (RELEASE's hand-off fast path), and a \`Semaphore(2)\` whose other permit a third client holds all along, so that A and B hand the remaining one back and forth (the general path). Each step runs one hand-off of each variant and each floor once, in an order that rotates from step to step: ${o.warmup} unmeasured steps, then ${
      int(o.count)
    } measured${
      result.capped ? ` (stopped at the ${o.cellMs / 1_000} s limit)` : ""
    }. The cell took ${num(result.seconds, 1)} s.`,
    "",
    `| hand-off | samples (dropped) | client before send, tw - t0: p50 / mean (us) | Redis script, commandstats (floors: the RPUSH, the PUBLISH): p50 / mean (us) | on the wire and waking: p50 / mean (us) | client after wake, t1 - th: p50 / mean (us) | total, t1 - t0: p50 / mean (us) | p50 / idle floor${
      pubsub ? ", / wake-up floor" : ""
    } |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(row),
    "",
    `The gap, in means (means add up; medians do not): ${
      gapSentence(result.mutex, result.floor)
    }; ${gapSentence(result.semaphore, result.floor)}.${
      pubsub
        ? ` Against the wake-up floor: ${
          gapSentence(result.mutex, pubsub).replace(
            "= floor",
            "= wake-up floor",
          )
        }.`
        : ""
    }`,
  ].join("\n");
}
