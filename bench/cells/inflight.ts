/**
 * The in-flight cell, acquires in flight on one object: the production shape of
 * a module-level `const mutex = new Mutex(redis, "x")` that every request
 * of a server uses at once. Does the client's CPU per acquire grow with the
 * number of acquires in flight on that one object? (It did: each acquire
 * listened on the object's shared "disposed" signal, and `EventTarget`
 * scans its listener list on every add and remove.)
 *
 * One client; `n` acquires started at once (no signal, the plain
 * `acquire()`), each released as soon as it resolves, on ONE `Mutex`
 * object, and again with one `Mutex` object per acquire (the reference),
 * for each `n`; the process's CPU time (user + system, which includes the
 * runtime's I/O threads) per acquire, and the wall time. Rounds alternate
 * the order; medians over rounds.
 *
 * Then a burst across names: `n` mutexes (distinct names) held on one
 * client, one waiter on each queued on another client, all released at
 * once: the time until every waiter holds, and the commands the waiters'
 * client wrote meanwhile, on all its connections (counted by a connector
 * that reads what it sends, `shared/command_counter.ts`). Each grant's
 * script publishes the wake-up on the channel the waiters' hub has
 * subscribed to, so the grants should reach the waiters without a command
 * of theirs; with a `BLMPOP` loop over one wake list (before), a burst of
 * 1,000 took 16 `BLMPOP`s, with one list per primitive 1,001. Before each
 * burst, one wait and grant on the waiters' client, so that the burst does
 * not measure the hub's first subscription.
 *
 * @module
 */
import process from "node:process";
import { connect, Mutex } from "../../mod.ts";
import { CommandCounter } from "../shared/command_counter.ts";
import { int, num, yes } from "../shared/format.ts";
import { deleteRun, queueKey, untilQueued } from "../shared/redis.ts";
import { medianOf } from "../shared/stats.ts";
import { sleep, within } from "../shared/timing.ts";
import type { Cell, CellContext } from "./types.ts";

/** How much work the cell does. */
export interface InflightBenchOptions {
  /** Acquires in flight at once, smallest first. */
  counts: number[];
  /** Rounds, each running every count on both layouts. */
  rounds: number;
  /** Limit of one batch of acquires. */
  batchMs: number;
  /** Names in a burst of grants, smallest first. */
  burstNames: number[];
}

/** About 10-20 s on 2 cores. */
export const DEFAULT_INFLIGHT_BENCH: InflightBenchOptions = {
  counts: [500, 5_000],
  rounds: 3,
  batchMs: 60_000,
  burstNames: [100, 1_000],
};

/** `BENCH_QUICK=1`: a smoke run. */
export const QUICK_INFLIGHT_BENCH: InflightBenchOptions = {
  counts: [100, 1_000],
  rounds: 1,
  batchMs: 30_000,
  burstNames: [50, 200],
};

/** One object for every acquire, or one per acquire. */
export type InflightLayout = "one object" | "object per acquire";

/** The figures of one count on one layout (medians over rounds). */
export interface InflightFigures {
  layout: InflightLayout;
  inFlight: number;
  /** CPU time of the process per acquire + release, us. */
  cpuUs: number;
  /** Wall time of the whole batch, s. */
  wallS: number;
  /** Per round, in order. */
  roundCpuUs: number[];
}

/** A burst of grants across names (medians over rounds). */
export interface BurstFigures {
  names: number;
  /** From the releases' start until every waiter holds, ms. */
  allMs: number;
  /** Commands the waiters' client wrote during that time (all connections). */
  commands: number;
  /** Per round, in order. */
  roundMs: number[];
  /** Per round, the waiters' commands by name (`name count, ...`). */
  roundCommands: string[];
}

/** What the cell measured. */
export interface InflightBenchResult {
  options: InflightBenchOptions;
  rows: InflightFigures[];
  bursts: BurstFigures[];
  seconds: number;
}

/**
 * `n` names held on one client and waited for on another, all released at
 * once: ms until every waiter holds, and the commands the waiters' client
 * wrote meanwhile. First one wait and grant on the waiters' client (its
 * hub subscribes, and stays subscribed for 10 s without waiters).
 */
async function burst(
  url: string,
  run: string,
  n: number,
  limitMs: number,
): Promise<{ allMs: number; commands: number; byName: string }> {
  const counter = new CommandCounter();
  const [holders, waiters, observer] = await Promise.all([
    connect(url),
    connect({ url, connector: counter.connector }),
    connect(url),
  ]);
  try {
    const warm = `${run}-burst-warm`;
    const warmHeld = await new Mutex(holders, warm).acquire();
    const warmWait = new Mutex(waiters, warm).acquire(
      AbortSignal.timeout(limitMs),
    );
    warmWait.catch(() => {}); // awaited below; never left unhandled
    await untilQueued(observer, warm, limitMs, `burst of ${n}: warm-up`);
    await warmHeld.release();
    await (await within(warmWait, limitMs, "burst warm-up")).release();
    const names = Array.from({ length: n }, (_, i) => `${run}-burst-${i}`);
    const held = await Promise.all(
      names.map((name) => new Mutex(holders, name).acquire()),
    );
    const waiting = names.map((name) =>
      new Mutex(waiters, name).acquire(AbortSignal.timeout(limitMs))
    );
    const deadline = performance.now() + limitMs;
    for (let polls = 0;; polls++) {
      const queued = await Promise.all(
        names.map((name) => observer.send("ZCARD", queueKey(name))),
      );
      if (queued.every((count) => Number(count) === 1)) break;
      if (performance.now() > deadline) {
        throw new Error(`burst of ${n}: waiters not queued in time`);
      }
      await sleep(polls < 10 ? 1 : 10);
    }
    await sleep(5);
    counter.reset();
    const started = performance.now();
    await Promise.all(held.map((lease) => lease.release()));
    const leases = await within(Promise.all(waiting), limitMs, `burst ${n}`);
    const allMs = performance.now() - started;
    const commands = counter.total;
    const byName = counter.text();
    await Promise.all(leases.map((lease) => lease.release()));
    return { allMs, commands, byName };
  } finally {
    await Promise.all([holders, waiters, observer].map((c) => c.close()));
  }
}

/** `n` acquires at once on `layout`, each released when it resolves. */
async function batch(
  url: string,
  name: string,
  n: number,
  layout: InflightLayout,
  limitMs: number,
): Promise<{ cpuUs: number; wallS: number }> {
  const client = await connect(url);
  try {
    const one = new Mutex(client, name);
    // Warm the connections (main and wake hub) and the scripts.
    await (await one.acquire()).release();
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const all: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const mutex = layout === "one object" ? one : new Mutex(client, name);
      all.push(mutex.acquire().then((lease) => lease.release()));
    }
    await within(Promise.all(all), limitMs, `in-flight batch of ${n}`);
    const wallS = (performance.now() - started) / 1_000;
    const cpu = process.cpuUsage(cpu0);
    return { cpuUs: (cpu.user + cpu.system) / n, wallS };
  } finally {
    await client.close();
  }
}

/** Runs the cell; every key it made is gone at the end. */
export async function benchInflight(
  { url, log, options }: CellContext<InflightBenchOptions>,
): Promise<InflightBenchResult> {
  const started = performance.now();
  const name = `lockbench-inflight-${crypto.randomUUID().slice(0, 8)}`;
  const layouts: InflightLayout[] = ["one object", "object per acquire"];
  const samples = new Map<string, { cpu: number[]; wall: number[] }>();
  const keyOf = (layout: InflightLayout, n: number) => `${layout}|${n}`;
  const bursts = new Map<
    number,
    { ms: number[]; calls: number[]; names: string[] }
  >();
  try {
    for (let round = 0; round < options.rounds; round++) {
      for (const n of options.burstNames) {
        const figures = await burst(url, name, n, options.batchMs);
        const entry = bursts.get(n) ?? { ms: [], calls: [], names: [] };
        entry.ms.push(figures.allMs);
        entry.calls.push(figures.commands);
        entry.names.push(figures.byName);
        bursts.set(n, entry);
        log(
          `in flight round ${
            round + 1
          }/${options.rounds}: burst of ${n} names: ${
            figures.allMs.toFixed(0)
          } ms, ${figures.commands} commands from the waiters' client (${figures.byName})`,
        );
      }
      const order = round % 2 === 0 ? layouts : [...layouts].reverse();
      for (const n of options.counts) {
        for (const layout of order) {
          const figures = await batch(url, name, n, layout, options.batchMs);
          const entry = samples.get(keyOf(layout, n)) ??
            { cpu: [], wall: [] };
          entry.cpu.push(figures.cpuUs);
          entry.wall.push(figures.wallS);
          samples.set(keyOf(layout, n), entry);
          log(
            `in flight round ${
              round + 1
            }/${options.rounds}: ${n} on ${layout}: ${
              figures.cpuUs.toFixed(0)
            } us CPU per acquire, ${figures.wallS.toFixed(2)} s`,
          );
        }
      }
    }
  } finally {
    const cleaner = await connect(url);
    try {
      const burstNames = options.burstNames.flatMap((n) =>
        Array.from({ length: n }, (_, i) => `${name}-burst-${i}`)
      );
      burstNames.push(`${name}-burst-warm`);
      await deleteRun(cleaner, name, [name, ...burstNames]);
    } finally {
      await cleaner.close();
    }
  }
  const rows: InflightFigures[] = [];
  for (const layout of layouts) {
    for (const n of options.counts) {
      const entry = samples.get(keyOf(layout, n))!;
      rows.push({
        layout,
        inFlight: n,
        cpuUs: medianOf(entry.cpu),
        wallS: medianOf(entry.wall),
        roundCpuUs: entry.cpu,
      });
    }
  }
  return {
    options,
    rows,
    bursts: options.burstNames.map((n) => {
      const entry = bursts.get(n)!;
      return {
        names: n,
        allMs: medianOf(entry.ms),
        commands: medianOf(entry.calls),
        roundMs: entry.ms,
        roundCommands: entry.names,
      };
    }),
    seconds: (performance.now() - started) / 1_000,
  };
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

/** CPU per acquire at the largest count within this factor of the smallest. */
export const INFLIGHT_TARGET = 1.5;

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
  const fewCalls = large.commands <= large.names / 10;
  return [
    `- A burst of ${int(large.names)} grants on distinct names reaches ${
      int(large.names)
    } waiters on one client, time per grant within ${INFLIGHT_TARGET}x of ${
      int(small.names)
    } names, with at most one command per 10 grants from the waiters' client: ${
      yes(burstGrowth <= INFLIGHT_TARGET && fewCalls)
    }: ${num(large.allMs, 0)} ms for all (${
      num(perGrant(large) * 1_000, 0)
    } us per grant, ${num(burstGrowth, 2)}x of ${int(small.names)} names), ${
      num(large.commands, 0)
    } command(s) from the waiters' client (median over rounds; ${
      large.roundCommands.join("; ")
    }).`,
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
    } mutexes of distinct names held on one client, one waiter on each queued on another client, all released at once (after 5 ms of idling): the time until every waiter holds, and the commands the waiters' client wrote meanwhile, on any of its connections (main and wake hub), counted by a connector that reads the RESP the client sends. Each grant's script \`PUBLISH\`es the wake-up on the channel the waiters' hub is \`SUBSCRIBE\`d to, so the grants need no command of the waiters' client; before each burst, one wait and grant on that client, so that its hub has subscribed already (it stays subscribed for 10 s without waiters). With a \`BLMPOP\` loop over one wake list per client (before), a burst of 1,000 took 16 \`BLMPOP\`s; with one list per primitive, 1,001.`,
    "",
    "| names | all granted (ms) | per grant (us) | commands from the waiters' client | per round (ms) | per round, by name |",
    "| ---: | ---: | ---: | ---: | --- | --- |",
    ...result.bursts.map((b) =>
      `| ${int(b.names)} | ${num(b.allMs, 1)} | ${
        num(b.allMs / b.names * 1_000, 0)
      } | ${num(b.commands, 0)} | ${
        b.roundMs.map((v) => num(v, 1)).join(", ")
      } | ${b.roundCommands.join("; ")} |`
    ),
  ].join("\n");
}

/** The cell. */
export const inflightCell: Cell<InflightBenchOptions, InflightBenchResult> = {
  id: "ours-inflight",
  section: "locks",
  about:
    "thousands of acquires in flight on one Mutex object; a burst of grants across names to one client",
  options: { full: DEFAULT_INFLIGHT_BENCH, quick: QUICK_INFLIGHT_BENCH },
  run: benchInflight,
  render: (result) => ({
    targets: inflightTargetLines(result),
    markdown: inflightMarkdown(result),
  }),
};
