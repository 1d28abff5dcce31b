/**
 * The runtimes cell: the lock cells on Deno and on Bun, side by side. The
 * same code (`child.ts`) runs as one process per runtime against the same
 * Redis, and this parent alternates them step by step (one runtime, then
 * the other, the first alternating from step to step and round to round),
 * so that both see the same moments of a noisy machine. Measured in each:
 * our PING, the idle wake floor (`RPUSH` -> another client's `BLPOP` after
 * 5 ms idle), the uncontended acquire + release of every library (ours, and
 * the others over ioredis), our blocking Mutex hand-off at a few W, and the
 * many-holders cell (`cells/holders/`).
 *
 * Bun runs with `bun_preload.ts`, which maps the `npm:` specifiers (Bun's
 * auto-install fetches the packages the first time). A runtime that cannot
 * start (no `bun` on PATH and no npx, no registry) is reported as not run;
 * the other one is still measured. `BENCH_RUNTIMES=deno,bun` (the default)
 * picks and orders the runtimes.
 *
 * @module
 */
import process from "node:process";
import { connect } from "../../../mod.ts";
import { defaultContenders } from "../../shared/catalog.ts";
import { errorText } from "../../shared/format.ts";
import { deleteRun } from "../../shared/redis.ts";
import { p50p99 } from "../../shared/stats.ts";
import type { Cell, CellContext } from "../types.ts";
import { type RuntimeKey, RuntimeProcess, RUNTIMES } from "./process.ts";
import type { CloseReply, OpenReply, Step, StepReply } from "./protocol.ts";
import { runtimesMarkdown } from "./report.ts";
import {
  DEFAULT_RUNTIMES_BENCH,
  type Measurement,
  QUICK_RUNTIMES_BENCH,
  type RuntimeCell,
  type RuntimesBenchOptions,
  type RuntimesBenchResult,
  type RuntimeSide,
} from "./types.ts";

/** The steps of one round, in order. */
export function measurements(o: RuntimesBenchOptions): Measurement[] {
  const labels = new Map(defaultContenders().map((c) => [c.id, c.label]));
  return [
    {
      key: "ping",
      label: "PING, our client, sequential",
      kind: "floor",
      step: { op: "ping", count: o.pings },
    },
    {
      key: "wake",
      label: `RPUSH -> BLPOP after ${o.settleMs} ms idle (hand-off floor)`,
      kind: "floor",
      step: { op: "wake", count: o.idleSamples, settleMs: o.settleMs },
    },
    ...o.uncontended.map((id): Measurement => ({
      key: `u:${id}`,
      label: `Uncontended: ${labels.get(id) ?? id}`,
      kind: "uncontended",
      step: { op: "uncontended", id, count: o.uncontendedCycles },
    })),
    ...o.handoffWorkers.map((workers): Measurement => ({
      key: `h:${workers}`,
      label: `Hand-off: @redsync/core Mutex, blocking, W=${workers}`,
      kind: "handoff",
      step: {
        op: "handoff",
        id: "ours-blocking",
        workers,
        warmup: o.handoffWarmup,
        rounds: o.handoffRounds,
        settleMs: o.settleMs,
        cellMs: o.handoffCellMs,
      },
    })),
    {
      key: "holders",
      label: "many holders",
      kind: "holders",
      step: {
        op: "holders",
        count: o.holders.cycles,
        statCycles: o.holders.statCycles,
        first: "small",
      },
      parts: [
        {
          key: "holders:small",
          label: `Semaphore(${o.holders.smallPermits}), nobody else holding`,
          field: "small",
        },
        {
          key: "holders:large",
          label: `Semaphore(${
            o.holders.permits.toLocaleString("en-US")
          }) with ${o.holders.holders.toLocaleString("en-US")} live holders`,
          field: "large",
        },
      ],
    },
  ];
}

/** Pooled figures of one runtime's batches of one measurement. */
function cellOf(m: Measurement, batches: StepReply[]): RuntimeCell {
  const samples = batches.flatMap((b) => b.samples);
  const [p50, p99] = p50p99(samples);
  const calls = batches.reduce((n, b) => n + b.calls, 0);
  const usec = batches.reduce((n, b) => n + b.usec, 0);
  const ops = batches.reduce(
    (n, b) =>
      n +
      (m.kind === "handoff"
        ? b.acquisitions ?? 0
        : b.statCycles ?? b.samples.length),
    0,
  );
  const cell: RuntimeCell = {
    count: samples.length,
    p50,
    p99,
    // Hand-offs: the cell's totals include its warm-up, the waiters' final
    // aborts and the hub's re-blocking; the lock section has the clean
    // per-acquisition figures.
    commandsPerOp: m.kind === "floor" ? NaN : calls / ops,
    redisUsPerOp: m.kind === "floor" || m.kind === "handoff" ? NaN : usec / ops,
    roundP50: batches.map((b) => p50p99(b.samples)[0]),
  };
  if (m.kind === "handoff") {
    cell.toOldest = batches.reduce((n, b) => n + (b.toOldest ?? 0), 0) /
      samples.length;
  }
  return cell;
}

/**
 * Runs the cell against the Redis at `url`: starts one child per
 * runtime, alternates them over the steps, then closes them. Every key
 * written contains `lockbench-rt-<random>` and is deleted at the end.
 */
export async function benchRuntimes(
  { url, log, options: given }: CellContext<RuntimesBenchOptions>,
): Promise<RuntimesBenchResult> {
  const options = { ...given, runtimes: runtimesFromEnv() ?? given.runtimes };
  const started = performance.now();
  const prefix = `lockbench-rt-${crypto.randomUUID().slice(0, 8)}`;
  const steps = measurements(options);
  const sides: RuntimeSide[] = [];
  const live = new Map<RuntimeSide, RuntimeProcess>();
  const batches = new Map<RuntimeSide, Map<string, StepReply[]>>();
  const fail = async (side: RuntimeSide, error: unknown) => {
    side.error = errorText(error);
    log(`${side.key}: stopped: ${side.error}`);
    const child = live.get(side);
    live.delete(side);
    await child?.stop();
  };
  try {
    for (const key of options.runtimes) {
      const child = new RuntimeProcess(key, [url, `${prefix}-${key}`], log);
      const side: RuntimeSide = {
        key,
        runtime: key,
        command: child.command,
        cells: {},
        keysAfterRelease: NaN,
      };
      sides.push(side);
      live.set(side, child);
      batches.set(side, new Map());
      log(`${key}: ${child.command}`);
      try {
        side.open = await child.step<OpenReply>({
          op: "open",
          uncontended: options.uncontended,
          uncontendedWarmup: options.uncontendedWarmup,
          holders: options.holders,
        }, 300_000);
        side.runtime = side.open.runtime;
        log(`${key}: ${side.runtime} ready`);
      } catch (error) {
        await fail(side, error);
      }
    }
    for (let round = 0; round < options.rounds; round++) {
      for (const [index, m] of steps.entries()) {
        const running = sides.filter((s) => live.has(s));
        const k = running.length === 0 ? 0 : (round + index) % running.length;
        for (const side of [...running.slice(k), ...running.slice(0, k)]) {
          const child = live.get(side);
          if (child === undefined) continue;
          const add = (key: string, reply: StepReply) => {
            const list = batches.get(side)?.get(key) ?? [];
            list.push(reply);
            batches.get(side)?.set(key, list);
          };
          try {
            const step: Step = m.step.op === "holders"
              ? { ...m.step, first: round % 2 === 0 ? "small" : "large" }
              : m.step;
            const reply = await child.step<
              StepReply & Partial<Record<"small" | "large", StepReply>>
            >(step, 180_000);
            if (m.parts) {
              for (const part of m.parts) add(part.key, reply[part.field]!);
            } else {
              add(m.key, reply);
            }
          } catch (error) {
            await fail(side, error);
          }
        }
      }
      log(
        `round ${round + 1}/${options.rounds}: ${
          sides.map((side) => {
            const u = batches.get(side)?.get("u:ours-mutex")?.at(-1);
            return u
              ? `${side.runtime} Mutex cycle p50 ${
                (p50p99(u.samples)[0] * 1_000).toFixed(0)
              } us`
              : `${side.key}: -`;
          }).join(", ")
        }`,
      );
    }
    for (const side of sides) {
      const child = live.get(side);
      if (child === undefined) continue;
      try {
        const closed = await child.step<CloseReply>({ op: "close" }, 120_000);
        side.keysAfterRelease = closed.keysAfterRelease;
      } catch (error) {
        await fail(side, error);
      }
    }
  } finally {
    await Promise.allSettled([...live.values()].map((child) => child.stop()));
    try {
      const redis = await connect(url);
      try {
        await deleteRun(redis, prefix);
      } finally {
        await redis.close();
      }
    } catch (error) {
      log(`cleanup failed: ${errorText(error)}`);
    }
  }
  const rows = steps.flatMap((m) =>
    m.parts?.map((p) => ({ ...m, key: p.key, label: p.label })) ?? [m]
  );
  for (const side of sides) {
    for (const m of rows) {
      const list = batches.get(side)?.get(m.key);
      if (list && list.length > 0) side.cells[m.key] = cellOf(m, list);
    }
  }
  return {
    options,
    measurements: rows.map(({ key, label, kind }) => ({ key, label, kind })),
    sides,
    seconds: (performance.now() - started) / 1_000,
  };
}

/** `BENCH_RUNTIMES=deno,bun` picks and orders the runtimes (when set). */
function runtimesFromEnv(): RuntimeKey[] | undefined {
  const wanted = process.env.BENCH_RUNTIMES?.split(",").map((s) => s.trim())
    .filter((s) => s !== "");
  if (!wanted || wanted.length === 0) return undefined;
  const unknown = wanted.filter((w) =>
    !(RUNTIMES as readonly string[]).includes(w)
  );
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_RUNTIMES: unknown runtime(s) ${unknown.join(", ")}; known: ${
        RUNTIMES.join(", ")
      }`,
    );
  }
  return wanted as RuntimeKey[];
}

/** The cell: its children use the bench's server. */
export const runtimesCell: Cell<RuntimesBenchOptions, RuntimesBenchResult> = {
  id: "runtimes",
  section: "runtimes",
  about:
    "the lock cells in one Deno and one Bun process, alternated step by step",
  options: { full: DEFAULT_RUNTIMES_BENCH, quick: QUICK_RUNTIMES_BENCH },
  run: benchRuntimes,
  render: (result) => ({ markdown: runtimesMarkdown(result) }),
};
