/**
 * The two-process hand-off cell: a blocking hand-off between two processes,
 * each with one client of its own (as users run it: one waiter per
 * process), against the same shape for an `RPUSH` waking a `BLPOP` blocked
 * on the other process's client. One clock, the measuring process's: each
 * round is a ping-pong of two hand-offs (see `worker.ts`), the first after
 * `settleMs` of idling, the second at once. Rounds without idling give
 * the warm hand-off (half a round); a round after the idle less one warm
 * hand-off gives the hand-off after the idle, which the target compares.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { connect } from "../../../mod.ts";
import { LineChild } from "../../shared/child.ts";
import { num, yes } from "../../shared/format.ts";
import { deleteRun } from "../../shared/redis.ts";
import { summarize, type Summary } from "../../shared/stats.ts";
import type { Cell, CellContext } from "../types.ts";

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));
/** A worker that says nothing for this long has failed. */
const WORKER_LIMIT_MS = 60_000;
/** The bound: a hand-off p50 within this of the idle floor's. */
const TARGET = 1.3;

/** What the cell runs. */
export interface ProcessesOptions {
  /** Idle before each measured round, ms. */
  settleMs: number;
  /** Measured rounds per run after the idle, and without idling. */
  idleRounds: number;
  warmRounds: number;
  /** Unmeasured rounds first. */
  warmup: number;
  /** Runs of each kind, their order alternating. */
  runs: number;
}

/** One kind's rounds over its runs, microseconds. */
export interface KindFigures {
  idle: Summary;
  warm: Summary;
}

/** What the cell found. */
export interface ProcessesResult {
  options: ProcessesOptions;
  lock: KindFigures;
  floor: KindFigures;
  seconds: number;
}

/** One run: A (measuring) then B, `rounds` measured after `warmup`. */
async function runOnce(
  url: string,
  kind: "lock" | "floor",
  key: string,
  rounds: number,
  warmup: number,
  settleMs: number,
): Promise<number[]> {
  const start = (role: string, args: string[]) =>
    new LineChild(
      WORKER,
      [url, role, kind, key, ...args],
      `hand-off worker ${role}`,
      WORKER_LIMIT_MS,
    );
  const a = start("a", [String(rounds + warmup), String(settleMs)]);
  let b: LineChild | undefined;
  try {
    if (await a.line() !== "ready") throw new Error("worker a: not ready");
    b = start("b", ["0", "0"]);
    const { times } = JSON.parse(await a.line()) as { times: number[] };
    return times.slice(warmup);
  } finally {
    await b?.stop();
    await a.stop();
  }
}

async function run(
  { url, log, options }: CellContext<ProcessesOptions>,
): Promise<ProcessesResult> {
  const started = performance.now();
  const prefix = `lockbench-2p-${crypto.randomUUID()}`;
  const samples = {
    lock: { idle: [] as number[], warm: [] as number[] },
    floor: { idle: [] as number[], warm: [] as number[] },
  };
  const admin = await connect(url);
  try {
    for (let r = 0; r < options.runs; r++) {
      const kinds = r % 2 === 0
        ? ["lock", "floor"] as const
        : ["floor", "lock"] as const;
      for (const kind of kinds) {
        for (const mode of ["idle", "warm"] as const) {
          const times = await runOnce(
            url,
            kind,
            `${prefix}:${kind}:${mode}:${r}`,
            mode === "idle" ? options.idleRounds : options.warmRounds,
            options.warmup,
            mode === "idle" ? options.settleMs : 0,
          );
          samples[kind][mode].push(...times);
          const s = summarize(times);
          log(
            `two processes ${kind} ${mode} run ${r}: round p50 ${
              num(s.p50, 0)
            } us`,
          );
        }
      }
    }
  } finally {
    await deleteRun(admin, prefix).catch(() => {});
    await admin.close();
  }
  const figures = (k: "lock" | "floor"): KindFigures => ({
    idle: summarize(samples[k].idle),
    warm: summarize(samples[k].warm),
  });
  return {
    options,
    lock: figures("lock"),
    floor: figures("floor"),
    seconds: (performance.now() - started) / 1_000,
  };
}

/** A hand-off after the idle: a round after it less one warm hand-off. */
export function afterIdle(f: KindFigures): number {
  return f.idle.p50 - f.warm.p50 / 2;
}

function render(
  result: ProcessesResult,
): { targets: string[]; markdown: string } {
  const { lock, floor, options } = result;
  const ours = afterIdle(lock);
  const base = afterIdle(floor);
  const ratio = ours / base;
  const warmRatio = lock.warm.p50 / floor.warm.p50;
  const targets = [
    `- Hand-off p50 <= ${TARGET}x the idle floor, two processes with one client each (W = 2): ${
      yes(ratio <= TARGET)
    }: ${num(ours, 0)} against ${
      num(base, 0)
    } us after ${options.settleMs} ms idle (${
      num(ratio, 2)
    }x); warm (no idle) ${num(lock.warm.p50 / 2, 0)} against ${
      num(floor.warm.p50 / 2, 0)
    } us (${num(warmRatio, 2)}x).`,
  ];
  const row = (name: string, f: KindFigures) =>
    `| ${name} | ${f.idle.count} / ${f.warm.count} | ${num(f.idle.p50, 0)} / ${
      num(f.idle.mean, 0)
    } | ${num(f.warm.p50, 0)} / ${num(f.warm.mean, 0)} | ${
      num(f.warm.p50 / 2, 0)
    } | ${num(afterIdle(f), 0)} |`;
  const markdown = [
    "### Hand-off between two processes",
    "",
    `Two processes, one client each (as users run a waiter per process): the first holds a \`Mutex\` at its defaults, the second waits for it. Each round the holder waits until the other is in the queue, idles ${options.settleMs} ms, then calls \`release()\` and, in the same tick, \`acquire()\` (its ACQUIRE follows its RELEASE on its connection, so it queues behind the other); the other takes the lease and releases it at once, which hands it back; the round ends when the first one's \`acquire()\` resolves. One clock (the measuring process's), so a round is two hand-offs: one after the idle, one at once. Rounds without the idle give the warm hand-off (half a round); a round after the idle less one warm hand-off is the hand-off after the idle. The floor is the same ping-pong with an \`RPUSH\` waking a \`BLPOP\` blocked on the other process's client, and back. ${options.runs} runs of each, alternating, ${options.warmup} unmeasured rounds first in each; the cell took ${
      num(result.seconds, 0)
    } s.`,
    "",
    "| ping-pong | rounds (after idle / warm) | round after idle: p50 / mean (us) | round, warm: p50 / mean (us) | warm hand-off p50 (us) | hand-off after idle p50 (us) |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    row("@redsync/core Mutex, blocking", lock),
    row("RPUSH -> BLPOP (floor)", floor),
    "",
  ].join("\n");
  return { targets, markdown };
}

/** The cell. */
export const processesCell: Cell<ProcessesOptions, ProcessesResult> = {
  id: "ours-processes",
  section: "locks",
  about:
    "A blocking hand-off between two processes with one client each, against RPUSH -> BLPOP between them",
  options: {
    full: {
      settleMs: 5,
      idleRounds: 150,
      warmRounds: 400,
      warmup: 10,
      runs: 4,
    },
    quick: { settleMs: 5, idleRounds: 30, warmRounds: 60, warmup: 5, runs: 2 },
  },
  run,
  render,
};
