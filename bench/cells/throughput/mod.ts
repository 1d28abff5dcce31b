/**
 * The throughput cell: what one Redis primary costs per lock cycle, and how
 * many cycles it serves, for us and each peer library at its defaults. Two
 * parts, every run in worker processes (`worker.ts`), no name shared by two
 * loops (nothing contended: the shape of many locks, one per account or job):
 *
 * - **Redis CPU per uncontended cycle, one client**: one connection in one
 *   process running 1 loop (one cycle at a time) or 64 loops (pipelined):
 *   Redis's main-thread CPU (`INFO cpu`: reading, parsing, running and
 *   answering) per acquire + release, with the script time and the commands
 *   Redis counted (scripts' own calls included) beside it;
 * - **throughput**: C clients (connections) spread over two processes, each
 *   running `loopsPerClient` loops, for a fixed time: cycles per second, and
 *   how busy Redis's main thread was (1 = one core: Redis is the limit).
 *
 * Each run is measured alone on the bench's server; the libraries' order
 * rotates from round to round; figures are medians over rounds.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { connect, type RedisClient } from "../../../mod.ts";
import { LineChild } from "../../shared/child.ts";
import { int, num, yes } from "../../shared/format.ts";
import { commandStats, deleteRun } from "../../shared/redis.ts";
import { medianOf } from "../../shared/stats.ts";
import type { Cell } from "../types.ts";
import {
  LIBRARIES,
  type Library,
  type ThroughputOptions,
  type ThroughputResult,
  type ThroughputRun,
} from "./types.ts";

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));
/** A worker that is not ready (or done) within this long failed. */
const WORKER_LIMIT_MS = 120_000;

/** Redis main-thread CPU so far, us. */
async function redisCpuUs(redis: RedisClient): Promise<number> {
  const info = String(await redis.send("INFO", "cpu"));
  const field = (name: string) =>
    Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return (field("used_cpu_user_main_thread") +
    field("used_cpu_sys_main_thread")) * 1e6;
}

/** Script or function commands, whose usec is the script's time. */
const SCRIPT_COMMANDS = ["evalsha", "eval", "fcall"];

/** One measured run: `split` clients per process, `loops` loops per client. */
async function measure(
  admin: RedisClient,
  url: string,
  library: Library,
  split: number[],
  loops: number,
  durationMs: number,
  prefix: string,
): Promise<ThroughputRun> {
  const workers = split.map((clients, i) =>
    new LineChild(
      WORKER,
      [url, library, String(clients), String(loops), `${prefix}:${i}`],
      "throughput worker",
      WORKER_LIMIT_MS,
    )
  );
  try {
    for (const worker of workers) {
      const line = await worker.line();
      if (line !== "ready") throw new Error(`throughput worker: ${line}`);
    }
    const cpuBefore = await redisCpuUs(admin);
    const statsBefore = await commandStats(admin);
    const started = performance.now();
    for (const worker of workers) worker.send(`go ${durationMs}`);
    const results = await Promise.all(
      workers.map(async (worker) =>
        JSON.parse(await worker.line()) as { cycles: number; ms: number }
      ),
    );
    const wallMs = performance.now() - started;
    const cpu = await redisCpuUs(admin) - cpuBefore;
    const statsAfter = await commandStats(admin);
    const cycles = results.reduce((sum, r) => sum + r.cycles, 0);
    const ms = Math.max(...results.map((r) => r.ms));
    let calls = 0;
    let scriptUsec = 0;
    for (const [name, after] of statsAfter) {
      if (name === "info") continue;
      const before = statsBefore.get(name);
      calls += after.calls - (before?.calls ?? 0);
      if (SCRIPT_COMMANDS.includes(name)) {
        scriptUsec += after.usec - (before?.usec ?? 0);
      }
    }
    return {
      library,
      clients: split.reduce((a, b) => a + b, 0),
      processes: split.length,
      loops: split.reduce((a, b) => a + b, 0) * loops,
      cyclesPerS: cycles / ms * 1_000,
      redisCpuUs: cpu / cycles,
      scriptUs: scriptUsec / cycles,
      callsPerCycle: calls / cycles,
      redisBusy: cpu / (wallMs * 1_000),
    };
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }
}

/** The runs of one round, the libraries rotated by `round`. */
async function round(
  admin: RedisClient,
  url: string,
  options: ThroughputOptions,
  round: number,
  runId: string,
  log: (line: string) => void,
): Promise<ThroughputRun[]> {
  const n = options.libraries.length;
  const order = options.libraries.map((_, i) =>
    options.libraries[(i + round) % n]
  );
  const runs: ThroughputRun[] = [];
  const shapes: [number[], number][] = [
    ...options.loopsOnOneClient.map((
      loops,
    ): [number[], number] => [[1], loops]),
    ...options.clients.map((clients): [number[], number] => [
      clients === 1 ? [1] : [Math.ceil(clients / 2), Math.floor(clients / 2)],
      options.loopsPerClient,
    ]),
  ];
  for (const [split, loops] of shapes) {
    for (const library of order) {
      const run = await measure(
        admin,
        url,
        library,
        split,
        loops,
        options.durationMs,
        `${runId}:${library}:${round}:${split.join("+")}x${loops}`,
      );
      log(
        `throughput ${library} ${run.clients} client(s) x ${loops}: ${
          int(run.cyclesPerS)
        }/s, Redis ${num(run.redisCpuUs)} us/cycle`,
      );
      runs.push(run);
      await deleteRun(admin, runId);
    }
  }
  return runs;
}

/** Median figures of one library and shape over the rounds. */
function medianRun(runs: ThroughputRun[]): ThroughputRun {
  const of = (pick: (run: ThroughputRun) => number) => medianOf(runs.map(pick));
  return {
    ...runs[0],
    cyclesPerS: of((r) => r.cyclesPerS),
    redisCpuUs: of((r) => r.redisCpuUs),
    scriptUs: of((r) => r.scriptUs),
    callsPerCycle: of((r) => r.callsPerCycle),
    redisBusy: of((r) => r.redisBusy),
  };
}

/** The medians, by shape (`processes`x`clients`x`loops`) then library. */
export function medians(result: ThroughputResult): ThroughputRun[] {
  const groups = new Map<string, ThroughputRun[]>();
  for (const run of result.runs) {
    const key = `${run.processes}:${run.clients}:${run.loops}:${run.library}`;
    groups.set(key, [...groups.get(key) ?? [], run]);
  }
  return [...groups.values()].map(medianRun);
}

/** Ours and the reference of each kind: mutex, then Semaphore(4). */
const REFERENCE: Partial<Record<Library, Library>> = {
  "ours-mutex": "rs-mutex",
  "ours-sem": "rs-sem",
};
/** The most ours may cost Redis per cycle against its reference. */
const CPU_TARGET: Partial<Record<Library, number>> = {
  "ours-mutex": 1.25,
  "ours-sem": 1.5,
};

function render(
  result: ThroughputResult,
): { targets: string[]; markdown: string } {
  const all = medians(result);
  const { loopsOnOneClient, clients, loopsPerClient } = result.options;
  const oneClient = all.filter((r) =>
    r.clients === 1 && r.processes === 1 && loopsOnOneClient.includes(r.loops)
  );
  const saturation = all.filter((r) =>
    clients.includes(r.clients) && r.loops === r.clients * loopsPerClient
  );
  const find = (runs: ThroughputRun[], library: Library, like: ThroughputRun) =>
    runs.find((r) =>
      r.library === library && r.clients === like.clients &&
      r.loops === like.loops && r.processes === like.processes
    );
  const targets: string[] = [];
  const lines: string[] = [
    "### Redis CPU per uncontended cycle, and throughput on distinct names",
    "",
    `Every run in worker processes, no name shared by two loops (nothing contended); each library at its defaults, made as the other lock cells make it (the ids of \`shared/catalog.ts\`'s default contenders). Redis CPU is its main thread's (\`INFO cpu\`: reading, parsing, running and answering) per acquire + release; script time is the \`usec\` of \`EVALSHA\`/\`EVAL\`/\`FCALL\` (\`INFO commandstats\`), calls are every command Redis counted, scripts' own calls included. ${result.options.rounds} round(s) of ${result.options.durationMs} ms per run, the libraries' order rotated, medians.`,
    "",
    "One client (one connection, one process): one cycle at a time, and loops on distinct names pipelined through it.",
    "",
    "| library | loops | Redis CPU per cycle (us) | vs reference | script (us) | calls per cycle | cycles/s |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const run of oneClient) {
    const reference = REFERENCE[run.library];
    const ref = reference ? find(oneClient, reference, run) : undefined;
    const ratio = ref ? run.redisCpuUs / ref.redisCpuUs : undefined;
    lines.push(
      `| ${run.library} | ${run.loops} | ${num(run.redisCpuUs)} | ${
        ratio === undefined ? "" : `${num(ratio, 2)}x`
      } | ${num(run.scriptUs)} | ${num(run.callsPerCycle, 2)} | ${
        int(run.cyclesPerS)
      } |`,
    );
    const limit = CPU_TARGET[run.library];
    if (ratio !== undefined && limit !== undefined) {
      targets.push(
        `- Redis CPU per uncontended ${
          run.library === "ours-mutex" ? "Mutex" : "Semaphore(4)"
        } cycle <= ${limit}x ${reference}'s, ${
          run.loops === 1
            ? "one cycle at a time"
            : `${run.loops} loops on one client`
        }: ${yes(ratio <= limit)}: ${num(run.redisCpuUs)} against ${
          num(ref!.redisCpuUs)
        } us (${num(ratio, 2)}x; script ${num(run.scriptUs)} against ${
          num(ref!.scriptUs)
        } us)`,
      );
    }
  }
  lines.push(
    "",
    `Throughput: C clients over two processes (one for C = 1), ${result.options.loopsPerClient} loops per client.`,
    "",
    "| library | clients | cycles/s | vs best peer | Redis CPU per cycle (us) | Redis busy |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  );
  const mutexes: Library[] = ["ours-mutex", "rs-mutex", "redlock", "sesame"];
  for (const run of saturation) {
    const peers = mutexes.includes(run.library)
      ? mutexes.filter((l) => l !== "ours-mutex")
      : ["rs-sem" as Library];
    const best = Math.max(
      ...peers.map((p) => find(saturation, p, run)?.cyclesPerS ?? 0),
    );
    const ours = run.library === "ours-mutex" || run.library === "ours-sem";
    lines.push(
      `| ${run.library} | ${run.clients} | ${int(run.cyclesPerS)} | ${
        ours && best > 0 ? `${num(run.cyclesPerS / best, 2)}x` : ""
      } | ${num(run.redisCpuUs)} | ${Math.round(run.redisBusy * 100)}% |`,
    );
    if (run.library === "ours-mutex" && best > 0) {
      targets.push(
        `- Lock cycles per second on distinct names >= every peer's, ${run.clients} client(s): ${
          yes(run.cyclesPerS >= best)
        }: ${int(run.cyclesPerS)} against ${int(best)}/s (${
          num(run.cyclesPerS / best, 2)
        }x; Redis busy ${Math.round(run.redisBusy * 100)}%)`,
      );
    }
  }
  return { targets, markdown: lines.join("\n") + "\n" };
}

/** The throughput cell. */
export const throughputCell: Cell<ThroughputOptions, ThroughputResult> = {
  id: "throughput",
  section: "locks",
  about:
    "Redis CPU per uncontended cycle, and cycles per second on distinct names from 1, 8, 64 clients, every library",
  options: {
    full: {
      libraries: [...LIBRARIES],
      loopsOnOneClient: [1, 64],
      clients: [1, 8, 64],
      loopsPerClient: 16,
      durationMs: 2_000,
      rounds: 2,
    },
    quick: {
      libraries: [...LIBRARIES],
      loopsOnOneClient: [1, 64],
      clients: [8],
      loopsPerClient: 8,
      durationMs: 800,
      rounds: 1,
    },
  },
  async run({ url, log, options }) {
    const runId = `lockbench-tp-${crypto.randomUUID()}`;
    const admin = await connect(url);
    try {
      const runs: ThroughputRun[] = [];
      for (let i = 0; i < options.rounds; i++) {
        runs.push(...await round(admin, url, options, i, runId, log));
      }
      return { runs, options };
    } finally {
      await deleteRun(admin, runId).catch(() => {});
      await admin.close();
    }
  },
  render,
};
