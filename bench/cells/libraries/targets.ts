/**
 * The targets of the libraries cell with the achieved figures: the
 * blocking hand-off against our PING, commands per acquisition, fairness,
 * the uncontended cycle, and ours against the other libraries at their
 * defaults on hand-off latency, fairness and commands.
 *
 * @module
 */
import { msText, num, us, yes } from "../../shared/format.ts";
import { limitOf } from "./contention.ts";
import { idlePublishP50Us, idleWakeP50Us, pingP50Us } from "./floor.ts";
import { handoffOf } from "./handoff.ts";
import type { ContentionResult, LockBenchResult } from "./types.ts";

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
  const publish = idlePublishP50Us(result) / 1_000;
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
    }; against a PUBLISH after the same idle reaching a connection SUBSCRIBEd to its channel (the mechanism of our wake-ups, p50 ${
      us(publish)
    } us): ${
      blocking.map((h) =>
        `W=${h.workers} ${(h.latency.p50 / publish).toFixed(1)}x`
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
