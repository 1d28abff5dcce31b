/**
 * The hand-off chart of the libraries cell (`results/handoff.svg`): p50
 * against W, one line per strategy, with our PING, 3x it and the idle wake
 * floor as references.
 *
 * @module
 */
import { logLogChart, type Series } from "../../shared/svg.ts";
import { idleWakeP50Us, pingP50Us } from "./floor.ts";
import { handoffIds, handoffOf } from "./handoff.ts";
import type { LockBenchResult } from "./types.ts";

/** Each strategy's line: its library's color, the wait in the dash. */
const STYLES: Record<string, { color: string; dash: string }> = {
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

/** Hand-off p50 (log scale) against W (log scale), one line per strategy. */
export function handoffChart(result: LockBenchResult): string {
  const ping = pingP50Us(result) / 1_000;
  const wake = idleWakeP50Us(result) / 1_000;
  const series = handoffIds(result).map((id): Series => {
    const rows = handoffOf(result, id).filter((h) =>
      Number.isFinite(h.latency.p50) && h.latency.p50 > 0
    );
    return {
      label: rows[0]?.strategy.contender.label ?? id,
      ...(STYLES[id] ?? { color: "#555555", dash: "" }),
      points: rows.map((h) => ({ x: h.workers, y: h.latency.p50 })),
    };
  });
  return logLogChart({
    title:
      "Mutex hand-off latency, p50 (release() call to next acquire() resolving)",
    width: 930,
    height: 440,
    plot: { left: 70, right: 520, top: 40, bottom: 380 },
    xs: result.options.workers,
    xLabel: "W: workers on the mutex (log scale)",
    yTick: (v) => v >= 1 ? `${v} ms` : `${+(v * 1_000).toPrecision(3)} us`,
    series,
    references: [
      {
        y: ping,
        label: `our PING p50 (${(ping * 1_000).toFixed(0)} us)`,
        color: "#999999",
        dash: "2 2",
      },
      { y: ping * 3, label: "3x our PING p50", color: "#999999", dash: "8 4" },
      {
        y: wake,
        label: `idle floor: RPUSH -> BLPOP after the settle (${
          (wake * 1_000).toFixed(0)
        } us)`,
        color: "#333333",
        dash: "1 2",
      },
    ],
    yExtent: [ping, wake],
  });
}
