/**
 * The lock benchmark's report: markdown tables, the targets with the
 * achieved figures, and the SVG chart of hand-off latency against W.
 *
 * @module
 */
import type {
  ContentionResult,
  HandoffResult,
  LockBenchResult,
} from "./locks.ts";
import { int, msText, num } from "./format.ts";
import { medianOf } from "./lock_stats.ts";
import { SEMAPHORE_PERMITS } from "./lock_contenders.ts";
import { sharedMarkdown, sharedTargetLines } from "./lock_shared_report.ts";
import { holdersMarkdown, holdersTargetLines } from "./lock_holders_report.ts";
import {
  breakdownMarkdown,
  breakdownTargetLines,
} from "./lock_breakdown_report.ts";
import {
  inflightMarkdown,
  inflightTargetLines,
} from "./lock_inflight_report.ts";

/** Our PING p50 (us): median over the floor runs of the section. */
export function pingP50Us(result: LockBenchResult): number {
  return medianOf(result.floors.map((f) => f.oursP50Us));
}

/** RPUSH -> BLPOP after an idle settle, p50 (us), median over the runs. */
export function idleWakeP50Us(result: LockBenchResult): number {
  return medianOf(result.floors.map((f) => f.idleWakeP50Us));
}

function us(msValue: number): string {
  return Number.isFinite(msValue) ? (msValue * 1_000).toFixed(0) : "n/a";
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

const yes = (ok: boolean) => ok ? "**met**" : "**missed**";

/** Holders a contention cell's lock allows. */
function limitOf(c: ContentionResult): number {
  return c.contender.kind === "mutex" ? 1 : SEMAPHORE_PERMITS;
}

// ---------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------

function handoffOf(
  result: LockBenchResult,
  id: string,
): HandoffResult[] {
  return result.handoff.filter((h) => h.strategy.contender.id === id);
}

function contentionOf(
  result: LockBenchResult,
  id: string,
  criticalMs?: number,
): ContentionResult[] {
  return result.contention.filter((c) =>
    c.contender.id === id &&
    (criticalMs === undefined || c.criticalMs === criticalMs)
  );
}

/** The targets of the issue with the achieved figures, as bullet points. */
export function targetLines(result: LockBenchResult): string[] {
  const ping = pingP50Us(result) / 1_000;
  const lines: string[] = [];

  const blocking = handoffOf(result, "ours-blocking");
  const ratios = blocking.map((h) => h.latency.p50 / ping);
  const wake = idleWakeP50Us(result) / 1_000;
  lines.push(
    `- Blocking hand-off p50 within 3x our PING p50 (${
      (ping * 1_000).toFixed(1)
    } us) at every W: ${yes(ratios.every((r) => r <= 3))}: ${
      blocking.map((h, i) =>
        `W=${h.workers} ${us(h.latency.p50)} us (${ratios[i].toFixed(1)}x)`
      ).join(", ")
    }. Against the idle floor (an RPUSH after ${result.options.settleMs} ms idle waking another client's BLPOP, p50 ${
      us(wake)
    } us): ${
      blocking.map((h) =>
        `W=${h.workers} ${(h.latency.p50 / wake).toFixed(1)}x`
      ).join(", ")
    }.`,
  );

  const perAcq = ["ours-mutex", "ours-sem"].flatMap((id) =>
    contentionOf(result, id)
  );
  // Only contended cells: a semaphore of 4 with W <= 4 never waits.
  const contended = perAcq.filter((c) => c.workers > limitOf(c));
  const cmds = contended.map((c) => c.commandsPerAcquire);
  const lo = Math.min(...cmds);
  const hi = Math.max(...cmds);
  lines.push(
    `- A handful of Redis commands per acquisition, independent of W (blocking, contended contention cells): ${
      yes(hi <= 6 && hi - lo <= 0.5)
    }: ${num(lo, 2)} to ${num(hi, 2)} over ${contended.length} cells, W = ${
      [...new Set(contended.map((c) => c.workers))].join(", ")
    } (${
      contended.map((c) =>
        `${c.contender.kind} W=${c.workers} cs=${c.criticalMs}: ${
          num(c.commandsPerAcquire, 2)
        }`
      ).join("; ")
    }).`,
  );

  const jains = perAcq.map((c) => c.jain);
  const minJain = Math.min(...jains);
  const worst = perAcq[jains.indexOf(minJain)];
  lines.push(
    `- Jain's index >= 0.95 with blocking: ${yes(minJain >= 0.95)}: lowest ${
      minJain.toFixed(3)
    }${
      worst
        ? ` (${worst.contender.kind} W=${worst.workers} cs=${worst.criticalMs} ms)`
        : ""
    }.`,
  );

  const unc = result.uncontended.filter((u) =>
    u.contender.id === "ours-mutex" || u.contender.id === "ours-sem"
  );
  lines.push(
    `- Uncontended cycle p50 within 2.5x PING: ${
      yes(unc.every((u) => u.p50 / ping <= 2.5))
    }: ${
      unc.map((u) =>
        `${u.contender.label} ${us(u.p50)} us (${(u.p50 / ping).toFixed(1)}x)`
      ).join(", ")
    }.`,
  );

  // Each comparison: ours (defaults, blocking) against one other library at
  // its defaults in one cell; `behind` lists where ours is not ahead.
  const metrics = [
    "hand-off p50",
    "Jain's index",
    "longest wait",
    "commands/acquisition",
  ];
  const compared = new Map<string, number>(metrics.map((m) => [m, 0]));
  const behind = new Map<string, string[]>(metrics.map((m) => [m, []]));
  const note = (metric: string, ok: boolean, where: string) => {
    compared.set(metric, (compared.get(metric) ?? 0) + 1);
    if (!ok) behind.get(metric)?.push(where);
  };
  for (const h of blocking) {
    for (const id of ["rs-mutex", "redlock", "sesame"]) {
      const o = handoffOf(result, id).find((x) => x.workers === h.workers);
      if (!o) continue;
      note(
        "hand-off p50",
        h.latency.p50 < o.latency.p50,
        `${o.strategy.contender.label} W=${h.workers} (${
          msText(h.latency.p50)
        } vs ${msText(o.latency.p50)} ms)`,
      );
    }
  }
  for (const c of result.contention) {
    if (!["rs-mutex", "redlock", "sesame", "rs-sem"].includes(c.contender.id)) {
      continue;
    }
    // A semaphore of 4 with W <= 4 is not contended: nothing to compare.
    if (c.workers <= limitOf(c)) continue;
    const ours = c.contender.kind === "mutex" ? "ours-mutex" : "ours-sem";
    const mine = contentionOf(result, ours, c.criticalMs).find((x) =>
      x.workers === c.workers
    );
    if (!mine) continue;
    const where = `${c.contender.label} W=${c.workers} cs=${c.criticalMs}`;
    note(
      "Jain's index",
      mine.jain >= c.jain - 0.005,
      `${where} (${mine.jain.toFixed(3)} vs ${c.jain.toFixed(3)})`,
    );
    note(
      "longest wait",
      mine.maxWait <= c.maxWait,
      `${where} (${msText(mine.maxWait)} vs ${msText(c.maxWait)} ms)`,
    );
    note(
      "commands/acquisition",
      mine.commandsPerAcquire <= c.commandsPerAcquire,
      `${where} (${num(mine.commandsPerAcquire, 2)} vs ${
        num(c.commandsPerAcquire, 2)
      })`,
    );
  }
  const all = metrics.every((m) => (behind.get(m) ?? []).length === 0);
  lines.push(
    `- Ahead of the other libraries at their defaults (redis-semaphore, redlock, @sesamecare-oss/redlock) on hand-off latency, fairness and commands per acquisition: ${
      yes(all)
    }.`,
  );
  for (const metric of metrics) {
    const list = behind.get(metric) ?? [];
    const n = compared.get(metric) ?? 0;
    lines.push(
      `  - ${metric}: ahead in ${n - list.length} of ${n} cells${
        list.length === 0
          ? ""
          : list.length <= 4
          ? `; not in ${list.join("; ")}`
          : `; not in ${list.length}, e.g. ${list.slice(0, 3).join("; ")}`
      }.`,
    );
  }
  return lines;
}

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

/** p50 of the hand-off by strategy (rows) and W (columns), ms. */
export function handoffMatrix(result: LockBenchResult): string[] {
  const workers = result.options.workers;
  const ids: string[] = [];
  for (const h of result.handoff) {
    if (!ids.includes(h.strategy.contender.id)) {
      ids.push(h.strategy.contender.id);
    }
  }
  const lines = [
    `| strategy | ${workers.map((w) => `W=${w} p50 / p99 (ms)`).join(" | ")} |`,
    `| --- | ${workers.map(() => "---:").join(" | ")} |`,
  ];
  for (const id of ids) {
    const rows = handoffOf(result, id);
    const label = rows[0]?.strategy.contender.label ?? id;
    lines.push(
      `| ${cell(label)} | ${
        workers.map((w) => {
          const h = rows.find((r) => r.workers === w);
          return h ? `${msText(h.latency.p50)} / ${msText(h.latency.p99)}` : "";
        }).join(" | ")
      } |`,
    );
  }
  return lines;
}

/** The W of the command breakdown: 32 when measured, else the largest. */
function breakdownW(result: LockBenchResult): number {
  const ws = result.options.workers;
  return ws.includes(32) ? 32 : Math.max(...ws);
}

/** Calls per acquisition of each counted command, per lock. */
function breakdown(result: LockBenchResult): string {
  const w = breakdownW(result);
  return result.contention.filter((c) => c.workers === w && c.criticalMs === 0)
    .map((c) =>
      `${c.contender.label}: ${
        Object.entries(c.perCommand).map(([name, calls]) =>
          `${name} ${calls.toFixed(2)}`
        ).join(", ")
      }`
    ).join("; ");
}

function contentionTable(
  rows: readonly ContentionResult[],
): string[] {
  const lines = [
    "| lock | W | CS/s | wait p50 (ms) | wait p99 (ms) | longest wait (ms) | Jain | starved | commands/acq. | Redis us/acq. |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${cell(r.contender.label)} | ${r.workers} | ${int(r.perSec)} | ${
        msText(r.wait.p50)
      } | ${msText(r.wait.p99)} | ${msText(r.maxWait)} | ${
        r.jain.toFixed(3)
      } | ${r.starved} | ${num(r.commandsPerAcquire, 2)} | ${
        num(r.redisUsPerAcquire, 0)
      } |`,
    );
  }
  return lines;
}

/** The section's markdown; `chart` is the SVG's path relative to the report. */
export function locksMarkdown(result: LockBenchResult, chart: string): string {
  const o = result.options;
  const ping = pingP50Us(result);
  const n = (v: number) => v.toLocaleString("en-US");
  const lines: string[] = [
    "## Locks: hand-off, contention, fairness",
    "",
    `All locks run in this process, every worker on a connection of its own (ours: its own \`RedisClient\`, whose wake hub connection wakes it; others: their own ioredis ${"5.4.1"} client), except in the shared-client cells, where all waiters share one client. The section took ${
      result.seconds.toFixed(0)
    } s.`,
    "",
    "### Achieved against the targets",
    "",
    ...targetLines(result),
    ...(result.holders ? holdersTargetLines(result.holders) : []),
    ...(result.breakdown ? breakdownTargetLines(result.breakdown) : []),
    ...(result.shared ? sharedTargetLines(result.shared) : []),
    ...(result.inflight ? inflightTargetLines(result.inflight) : []),
    "",
    "### Floor",
    "",
    `| when | redis-benchmark \`-c 1\` PING p50 (us) | redis-benchmark mean (us) | our PING p50 (us) | our PING mean (us) | our PING after ${o.settleMs} ms idle, p50 (us) | RPUSH -> BLPOP after ${o.settleMs} ms idle, p50 (us) |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.floors.map((f, i) =>
      `| run ${i + 1} | ${num(f.benchmarkP50Us, 0)} | ${
        num(f.benchmarkMeanUs)
      } | ${num(f.oursP50Us)} | ${num(f.oursMeanUs)} | ${
        num(f.idlePingP50Us, 0)
      } | ${num(f.idleWakeP50Us, 0)} |`
    ),
    `| **median** | ${
      num(medianOf(result.floors.map((f) => f.benchmarkP50Us)), 0)
    } | ${num(medianOf(result.floors.map((f) => f.benchmarkMeanUs)))} | **${
      num(ping)
    }** | ${num(medianOf(result.floors.map((f) => f.oursMeanUs)))} | ${
      num(medianOf(result.floors.map((f) => f.idlePingP50Us)), 0)
    } | **${num(idleWakeP50Us(result), 0)}** |`,
    "",
    `The ratios below divide by our PING p50 (**${
      num(ping)
    } us**, median of the ${result.floors.length} runs taken between the measurements): the same client and event loop as the locks. redis-benchmark reports whole microseconds. The two "idle" columns repeat a PING, and an RPUSH from one of our clients to a BLPOP blocked on another, ${
      n(o.idleSamples)
    } times each after sleeping ${o.settleMs} ms, as the hand-off rounds do before every release: on this machine a round trip that follows a few ms of idling costs several times a back-to-back one (both processes must be woken), which sets the floor of every hand-off below.`,
    "",
    "### Uncontended acquire + release",
    "",
    `One worker, ${n(o.uncontendedWarmup)} warm-up cycles, then ${
      n(o.uncontendedCycles)
    } timed \`acquire()\` + \`release()\` cycles per round, ${o.uncontendedRounds} rounds with the order rotated; medians over the rounds.`,
    "",
    "| lock | settings | cycles/s | p50 (us) | p99 (us) | p50 / PING | commands/cycle | Redis us/cycle |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.uncontended.map((u) =>
      `| ${cell(u.contender.label)} | ${cell(u.contender.settings)} | ${
        int(u.cyclesPerSec)
      } | ${us(u.p50)} | ${us(u.p99)} | ${
        ((u.p50 * 1_000) / ping).toFixed(2)
      } | ${num(u.commandsPerCycle, 2)} | ${num(u.redisUsPerCycle, 0)} |`
    ),
    "",
    ...(result.holders ? [holdersMarkdown(result.holders), ""] : []),
    "### Hand-off latency",
    "",
    `Controlled rounds on a mutex: the holder releases only once every other worker has entered \`acquire()\` (and, for ours with blocking, the queue ZSET \`redsync:{name}:queue\` has W-1 members), then ${o.settleMs} ms more; the latency is the time from its \`release()\` call to the next holder's \`acquire()\` resolving (one process, one clock); the releaser re-enters \`acquire()\` only once a waiter has the lock, so every measured hand-off goes from one worker to another (barging is left to the contention runs). The first ${o.handoffWarmup} hand-offs of each lock are not measured, and every worker's connections (for ours, also the blocking one) are open beforehand. ${
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
      `| ${cell(h.strategy.contender.label)} | ${
        cell(h.strategy.contender.settings)
      } | ${h.workers} | ${h.lanes} | ${n(h.latency.count)}${
        h.capped ? " (time limit)" : ""
      } | ${msText(h.latency.p50)} | ${msText(h.latency.p99)} | ${
        msText(h.latency.p999)
      } | ${(h.toOldest * 100).toFixed(0)}% | ${num(h.commandsPerAcquire, 1)} |`
    ),
    "",
    ...(result.breakdown ? [breakdownMarkdown(result.breakdown), ""] : []),
    ...(result.shared
      ? [
        sharedMarkdown(result.shared, {
          pingUs: ping,
          idleWakeUs: idleWakeP50Us(result),
        }),
        "",
      ]
      : []),
    ...(result.inflight ? [inflightMarkdown(result.inflight), ""] : []),
    "### Free-running contention",
    "",
    `W workers loop \`acquire()\` -> critical section -> \`release()\` for ${
      o.contentionWarmupMs / 1_000
    } s unmeasured, then a ${
      o.contentionWindowMs / 1_000
    } s window: critical sections per second, the wait of each acquisition completed in the window, the longest wait (including workers still waiting at the window's end), Jain's index over the acquisitions per worker, the workers that got none, and the client-level Redis commands per acquisition (see below). Semaphores have ${SEMAPHORE_PERMITS} permits. The 1 ms critical section is a \`setTimeout(1)\` (measured p50 ${
      msText(
        medianOf(
          result.contention.filter((c) => c.criticalMs > 0).map((c) =>
            c.criticalP50
          ).filter(Number.isFinite),
        ),
      )
    } ms).`,
    "",
  ];
  for (const criticalMs of o.criticalMs) {
    lines.push(
      criticalMs === 0
        ? "Empty critical section:"
        : `Critical section of ${criticalMs} ms:`,
      "",
      ...contentionTable(
        result.contention.filter((c) => c.criticalMs === criticalMs),
      ),
      "",
    );
  }
  lines.push(
    "**Commands per acquisition.** `INFO commandstats` before and after the window, summing only the commands each library sends itself: ours `evalsha`, `eval`, `blmpop` (the wake hub), `blpop`, `client|unblock`; redis-semaphore's Mutex `set` (acquire, NX PX), `evalsha`, `eval` (release); its Semaphore `evalsha`, `eval` (acquire) and `zrem` (release); both redlocks `evalsha` and `eval`. Redis also counts every command a Lua script calls (our scripts call `ZADD`, `HSET`, `SET`, `DEL`, `RPUSH`, ...), but those cost no round trip and are left out; no library above sends one of those names itself and also calls it from its scripts, so the sum is exact. `INFO` and the benchmark's `ZCARD` are not counted. Redis us/acq. is the `usec` of those commands (a script's includes what it calls).",
    "",
    `Per command, at W=${breakdownW(result)} with the empty critical section: ${
      breakdown(result)
    }.`,
    "",
    "**Correctness.** Every run counts the workers inside the critical section (incremented when `acquire()` resolves, decremented before `release()` is called); more than the limit (1, or 4 for semaphores) fails the benchmark with a non-zero exit. None happened in this run.",
  );
  return lines.join("\n");
}

// ---------------------------------------------------------------------------
// Chart
// ---------------------------------------------------------------------------

interface Style {
  color: string;
  dash: string;
}

const STYLES: Record<string, Style> = {
  "ours-blocking": { color: "#1c4e9d", dash: "" },
  "ours-poll-1": { color: "#3b82d6", dash: "6 3" },
  "ours-poll-10": { color: "#3b82d6", dash: "2 3" },
  "ours-poll-50": { color: "#3b82d6", dash: "10 3 2 3" },
  "rs-mutex": { color: "#d9480f", dash: "" },
  "rs-mutex-1": { color: "#d9480f", dash: "6 3" },
  "redlock": { color: "#2b8a3e", dash: "" },
  "redlock-1": { color: "#2b8a3e", dash: "6 3" },
  "sesame": { color: "#862e9c", dash: "" },
  "sesame-1": { color: "#862e9c", dash: "6 3" },
};

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  );
}

/** Hand-off p50 (log scale) against W (log scale), one line per strategy. */
export function handoffChart(result: LockBenchResult): string {
  const width = 930;
  const height = 440;
  const plot = { left: 70, right: 520, top: 40, bottom: 380 };
  const workers = result.options.workers;
  const ping = pingP50Us(result) / 1_000;
  const values = result.handoff.map((h) => h.latency.p50).filter((v) =>
    v > 0 && Number.isFinite(v)
  );
  const wake = idleWakeP50Us(result) / 1_000;
  values.push(ping, wake);
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)));
  const x = (w: number) => {
    const a = Math.log2(workers[0]);
    const b = Math.log2(workers[workers.length - 1]);
    return plot.left + 20 +
      (Math.log2(w) - a) / Math.max(1e-9, b - a) *
        (plot.right - plot.left - 40);
  };
  const y = (v: number) =>
    plot.bottom -
    (Math.log10(v) - lo) / Math.max(1e-9, hi - lo) * (plot.bottom - plot.top);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${plot.left}" y="22" font-size="15" font-weight="bold">Mutex hand-off latency, p50 (release() call to next acquire() resolving)</text>`,
  ];
  for (let d = lo; d <= hi; d++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** d;
      if (Math.log10(v) > hi + 1e-9) continue;
      const yy = y(v).toFixed(1);
      out.push(
        `<line x1="${plot.left}" x2="${plot.right}" y1="${yy}" y2="${yy}" stroke="${
          m === 1 ? "#cccccc" : "#eeeeee"
        }"/>`,
      );
      if (m === 1 || hi - lo <= 3) {
        const label = v >= 1 ? `${v} ms` : `${+(v * 1_000).toPrecision(3)} us`;
        out.push(
          `<text x="${plot.left - 6}" y="${
            (y(v) + 4).toFixed(1)
          }" text-anchor="end" fill="#444444">${label}</text>`,
        );
      }
    }
  }
  for (const w of workers) {
    const xx = x(w).toFixed(1);
    out.push(
      `<line x1="${xx}" x2="${xx}" y1="${plot.top}" y2="${plot.bottom}" stroke="#eeeeee"/>`,
      `<text x="${xx}" y="${
        plot.bottom + 18
      }" text-anchor="middle" fill="#444444">${w}</text>`,
    );
  }
  out.push(
    `<text x="${(plot.left + plot.right) / 2}" y="${
      plot.bottom + 40
    }" text-anchor="middle">W: workers on the mutex (log scale)</text>`,
    `<rect x="${plot.left}" y="${plot.top}" width="${
      plot.right - plot.left
    }" height="${plot.bottom - plot.top}" fill="none" stroke="#888888"/>`,
  );
  const references: [number, string, string, string][] = [
    [ping, `our PING p50 (${(ping * 1_000).toFixed(0)} us)`, "#999999", "2 2"],
    [ping * 3, "3x our PING p50", "#999999", "8 4"],
    [
      wake,
      `idle floor: RPUSH -> BLPOP after the settle (${
        (wake * 1_000).toFixed(0)
      } us)`,
      "#333333",
      "1 2",
    ],
  ];
  for (const [value, , color, dash] of references) {
    if (!Number.isFinite(value) || value <= 0) continue;
    const yy = y(value).toFixed(1);
    out.push(
      `<line x1="${plot.left}" x2="${plot.right}" y1="${yy}" y2="${yy}" stroke="${color}" stroke-dasharray="${dash}"/>`,
    );
  }
  const ids: string[] = [];
  for (const h of result.handoff) {
    if (!ids.includes(h.strategy.contender.id)) {
      ids.push(h.strategy.contender.id);
    }
  }
  ids.forEach((id, index) => {
    const rows = handoffOf(result, id).filter((h) =>
      Number.isFinite(h.latency.p50) && h.latency.p50 > 0
    );
    const style = STYLES[id] ?? { color: "#555555", dash: "" };
    const dash = style.dash ? ` stroke-dasharray="${style.dash}"` : "";
    const points = rows.map((h) =>
      `${x(h.workers).toFixed(1)},${y(h.latency.p50).toFixed(1)}`
    ).join(" ");
    out.push(
      `<polyline points="${points}" fill="none" stroke="${style.color}" stroke-width="2"${dash}/>`,
    );
    for (const h of rows) {
      out.push(
        `<circle cx="${x(h.workers).toFixed(1)}" cy="${
          y(h.latency.p50).toFixed(1)
        }" r="3" fill="${style.color}"/>`,
      );
    }
    const ly = plot.top + 10 + index * 22;
    const label = rows[0]?.strategy.contender.label ?? id;
    out.push(
      `<line x1="${plot.right + 20}" x2="${
        plot.right + 50
      }" y1="${ly}" y2="${ly}" stroke="${style.color}" stroke-width="2"${dash}/>`,
      `<text x="${plot.right + 56}" y="${ly + 4}">${escapeXml(label)}</text>`,
    );
  });
  references.forEach(([value, label, color, dash], index) => {
    if (!Number.isFinite(value) || value <= 0) return;
    const ly = plot.top + 10 + (ids.length + 0.5 + index) * 22;
    out.push(
      `<line x1="${plot.right + 20}" x2="${
        plot.right + 50
      }" y1="${ly}" y2="${ly}" stroke="${color}" stroke-dasharray="${dash}"/>`,
      `<text x="${plot.right + 56}" y="${ly + 4}" fill="#555555">${
        escapeXml(label)
      }</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
