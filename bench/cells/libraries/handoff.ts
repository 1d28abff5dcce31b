/**
 * Hand-off latency of the libraries cell, in controlled rounds
 * (`shared/lanes.ts`) on a mutex, for every strategy at every W. Slow
 * (sleep-bound) strategies run several independent locks ("lanes") at once
 * within the budgets of {@linkcode LockBenchOptions}.
 *
 * @module
 */
import type { Strategy } from "../../shared/catalog.ts";
import type { Subject } from "../../shared/contenders.ts";
import { cellText, msText, num } from "../../shared/format.ts";
import { Lane, laneControl, runLanes } from "../../shared/lanes.ts";
import { commandDelta, commandStats } from "../../shared/redis.ts";
import { summarize } from "../../shared/stats.ts";
import type {
  HandoffResult,
  LockBenchOptions,
  LockBenchResult,
  Rig,
} from "./types.ts";

/** Lanes of a strategy at W workers: see {@linkcode LockBenchOptions}. */
export function lanesFor(
  strategy: Strategy,
  workers: number,
  options: LockBenchOptions,
): number {
  // Only sleep-bound strategies: a hand-off of a few ms or more.
  if (strategy.pollMs < 10) return 1;
  const byPolls = Math.floor(
    options.lanePollBudget * strategy.pollMs / 1_000 / workers,
  );
  // A round: the settle, about half a retry interval, a little more.
  const roundMs = options.settleMs + strategy.pollMs / 2 + 1;
  const byRounds = Math.floor(options.laneRoundBudget * roundMs / 1_000);
  const byWorkers = Math.floor(options.maxLaneWorkers / workers);
  return Math.max(1, Math.min(byPolls, byRounds, byWorkers));
}

async function handoffCell(
  rig: Rig,
  strategy: Strategy,
  workers: number,
  largest: boolean,
): Promise<HandoffResult> {
  const { options, connections } = rig;
  const contender = strategy.contender;
  const lanes = lanesFor(strategy, workers, options);
  const subjects: Subject[] = [];
  const laneList: Lane[] = [];
  try {
    for (let l = 0; l < lanes; l++) {
      const name = `${rig.runId}:h:${contender.id}:${workers}:${l}`;
      rig.names.add(name);
      const subject = await contender.open(
        connections,
        name,
        workers,
        l * workers,
      );
      subjects.push(subject);
      laneList.push(new Lane(subject, `${contender.label} (lane ${l})`));
    }
    const limitMs = largest ? options.handoffLargestMs : options.handoffCellMs;
    const target = options.handoffRounds;
    const control = laneControl(
      options.handoffWarmup,
      Math.ceil(target / lanes),
      options.settleMs,
      limitMs,
    );
    const before = await commandStats(connections.observer);
    const start = performance.now();
    await runLanes(
      laneList,
      control,
      limitMs + 60_000 + workers * 1_000,
      `hand-off ${contender.label} at W=${workers}`,
    );
    const seconds = (performance.now() - start) / 1_000;
    const after = await commandStats(connections.observer);
    const samples = laneList.flatMap((lane) => lane.samples);
    const acquisitions = laneList.reduce((n, l) => n + l.acquisitions, 0);
    const toOldest = laneList.reduce((n, l) => n + l.toOldest, 0);
    return {
      strategy,
      workers,
      lanes,
      latency: summarize(samples),
      toOldest: toOldest / samples.length,
      commandsPerAcquire:
        commandDelta(before, after, contender.commands).calls / acquisitions,
      capped: samples.length < target,
      seconds,
    };
  } finally {
    await Promise.allSettled(subjects.map((s) => s.close()));
  }
}

/** Every strategy at every W of the options. */
export async function measureHandoff(
  rig: Rig,
  strategies: Strategy[],
): Promise<HandoffResult[]> {
  const { options, log } = rig;
  const results: HandoffResult[] = [];
  const largest = Math.max(...options.workers);
  for (const strategy of strategies) {
    for (const workers of options.workers) {
      const result = await handoffCell(
        rig,
        strategy,
        workers,
        workers === largest,
      );
      results.push(result);
      const l = result.latency;
      log(
        `hand-off ${strategy.contender.label} W=${workers}${
          result.lanes > 1 ? ` (${result.lanes} lanes)` : ""
        }: ${l.count} rounds in ${result.seconds.toFixed(1)} s, p50 ${
          msText(l.p50)
        } ms, p99 ${msText(l.p99)} ms, p99.9 ${msText(l.p999)} ms, to oldest ${
          (result.toOldest * 100).toFixed(0)
        }%, ${result.commandsPerAcquire.toFixed(1)} commands/acquisition`,
      );
    }
  }
  return results;
}

/** The hand-off cells of contender `id`, by W. */
export function handoffOf(
  result: LockBenchResult,
  id: string,
): HandoffResult[] {
  return result.handoff.filter((h) => h.strategy.contender.id === id);
}

/** The contender ids of the hand-off cells, in order. */
export function handoffIds(result: LockBenchResult): string[] {
  return [...new Set(result.handoff.map((h) => h.strategy.contender.id))];
}

/** p50 of the hand-off by strategy (rows) and W (columns), ms. */
function handoffMatrix(result: LockBenchResult): string[] {
  const workers = result.options.workers;
  const lines = [
    `| strategy | ${workers.map((w) => `W=${w} p50 / p99 (ms)`).join(" | ")} |`,
    `| --- | ${workers.map(() => "---:").join(" | ")} |`,
  ];
  for (const id of handoffIds(result)) {
    const rows = handoffOf(result, id);
    const label = rows[0]?.strategy.contender.label ?? id;
    lines.push(
      `| ${cellText(label)} | ${
        workers.map((w) => {
          const h = rows.find((r) => r.workers === w);
          return h ? `${msText(h.latency.p50)} / ${msText(h.latency.p99)}` : "";
        }).join(" | ")
      } |`,
    );
  }
  return lines;
}

/** The "Hand-off latency" subsection; `chart` is the SVG's relative path. */
export function handoffMarkdown(
  result: LockBenchResult,
  chart: string,
): string {
  const o = result.options;
  const n = (v: number) => v.toLocaleString("en-US");
  return [
    "### Hand-off latency",
    "",
    `Controlled rounds on a mutex: the holder releases only once every other worker has entered \`acquire()\` (and, for ours with blocking, the queue ZSET \`redsync:{name}:queue\` has W-1 members), then ${o.settleMs} ms more; the latency is the time from its \`release()\` call to the next holder's \`acquire()\` resolving (one process, one clock); the releaser re-enters \`acquire()\` only once a waiter has the lock, so every measured hand-off goes from one worker to another (barging is left to the contention runs). The first ${o.handoffWarmup} hand-offs of each lock are not measured, and every worker's connections (for ours, also one of its blocking pool, and its wake hub's subscriber, which its first wait opens) are open beforehand. ${
      n(o.handoffRounds)
    } measured rounds per W; at the largest W each cell stops after ${
      o.handoffLargestMs / 1_000
    } s of measuring (the rounds column says how many). Sleep-bound strategies (polling every 10 ms or more, the libraries' defaults) run several independent locks ("lanes") at once, each with its W workers, as long as in total their waiters make at most ${
      n(o.lanePollBudget)
    } attempts/s and the lanes at most ${
      n(o.laneRoundBudget)
    } hand-offs/s (one lane of a fast strategy makes about 150), with at most ${o.maxLaneWorkers} workers: their latency is mostly sleep, which the extra load barely changes (at W=2 the 10 ms pollers measure about 10 - ${o.settleMs} ms with one lane or several). Fast strategies (blocking, 1 ms retries) always run one lane. "to oldest" is the share of hand-offs that went to the worker that had waited longest.`,
    "",
    `![Hand-off latency p50 against W](${chart})`,
    "",
    ...handoffMatrix(result),
    "",
    "| strategy | settings | W | lanes | rounds | p50 (ms) | p99 (ms) | p99.9 (ms) | to oldest | commands/acq. |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.handoff.map((h) =>
      `| ${cellText(h.strategy.contender.label)} | ${
        cellText(h.strategy.contender.settings)
      } | ${h.workers} | ${h.lanes} | ${n(h.latency.count)}${
        h.capped ? " (time limit)" : ""
      } | ${msText(h.latency.p50)} | ${msText(h.latency.p99)} | ${
        msText(h.latency.p999)
      } | ${(h.toOldest * 100).toFixed(0)}% | ${num(h.commandsPerAcquire, 1)} |`
    ),
  ].join("\n");
}
