/**
 * `deno task bench`: runs every benchmark section against one Redis, prints
 * progress and the result tables, and writes them to
 * `bench/results/latest.md`.
 *
 * Uses `REDIS_URL` when set; otherwise starts a private `redis-server` on a
 * free 127.0.0.1 port (no persistence) and stops it at the end.
 *
 * To add a benchmark, append a {@linkcode Section} to `SECTIONS`: it gets the
 * server URL and a logger, and returns its markdown.
 *
 * Environment: `BENCH_SECTIONS=client,locks,runtimes,cluster,durability`
 * runs only those sections (the report then holds only them);
 * `BENCH_QUICK=1` makes a smoke run of the lock, runtimes, cluster and
 * durability sections, a few seconds per measurement;
 * `BENCH_RUNTIMES=deno,bun` picks the runtimes of the runtimes section
 * (`lock_runtimes.ts`: the same lock cells in one process per runtime,
 * side by side); for
 * the lock section, `BENCH_LOCKS_ONLY=<regexp>` keeps the contenders whose
 * id matches (the shared-client cells of `lock_shared.ts` run when it
 * matches `ours-shared`, the many-holders cell of `lock_holders.ts` when it
 * matches `ours-sem-holders`, the hand-off breakdown of `lock_breakdown.ts`
 * when it matches `ours-breakdown`, the in-flight cell of `lock_inflight.ts`
 * when it matches `ours-inflight`), and `BENCH_LOCKS_JSON=<file>` also writes the raw
 * figures there. The cluster section (`lock_cluster.ts`) starts its own
 * Redis Cluster and stops it at the end; the durability section
 * (`lock_durability.ts`) its own primary and replica, likewise.
 *
 * @module
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { arch, cpus, loadavg, platform } from "node:os";
import process from "node:process";
import { startRedis } from "../harness/server.ts";
import { benchClient, clientMarkdown } from "./client.ts";
import { handoffChart, locksMarkdown } from "./lock_report.ts";
import { benchLocks, DEFAULT_LOCK_BENCH, QUICK_LOCK_BENCH } from "./locks.ts";
import {
  benchShared,
  DEFAULT_SHARED_BENCH,
  QUICK_SHARED_BENCH,
  SHARED_ID,
} from "./lock_shared.ts";
import {
  benchHolders,
  DEFAULT_HOLDERS_BENCH,
  HOLDERS_ID,
  QUICK_HOLDERS_BENCH,
} from "./lock_holders.ts";
import {
  benchInflight,
  DEFAULT_INFLIGHT_BENCH,
  INFLIGHT_ID,
  QUICK_INFLIGHT_BENCH,
} from "./lock_inflight.ts";
import {
  benchBreakdown,
  BREAKDOWN_ID,
  DEFAULT_BREAKDOWN_BENCH,
  QUICK_BREAKDOWN_BENCH,
} from "./lock_breakdown.ts";
import {
  benchRuntimes,
  DEFAULT_RUNTIMES_BENCH,
  QUICK_RUNTIMES_BENCH,
  runtimesFromEnv,
} from "./lock_runtimes.ts";
import { runtimesMarkdown } from "./lock_runtimes_report.ts";
import {
  benchCluster,
  DEFAULT_CLUSTER_BENCH,
  QUICK_CLUSTER_BENCH,
} from "./lock_cluster.ts";
import { clusterMarkdown } from "./lock_cluster_report.ts";
import {
  benchDurability,
  DEFAULT_DURABILITY_BENCH,
  QUICK_DURABILITY_BENCH,
} from "./lock_durability.ts";
import { durabilityMarkdown } from "./lock_durability_report.ts";

/** What every section is given. */
export interface SectionContext {
  /** The Redis to use, `redis://127.0.0.1:PORT` for the private server. */
  url: string;
  /** Prints one progress line, prefixed with the section name. */
  log(line: string): void;
}

/** One benchmark: a name, and a run that returns a markdown section. */
export interface Section {
  name: string;
  run(context: SectionContext): Promise<string>;
}

const SECTIONS: Section[] = [
  {
    name: "client",
    run: async ({ url, log }) => clientMarkdown(await benchClient(url, log)),
  },
  {
    name: "locks",
    run: async ({ url, log }) => {
      const quick = process.env.BENCH_QUICK === "1";
      const only = process.env.BENCH_LOCKS_ONLY;
      const result = await benchLocks(
        url,
        log,
        quick ? QUICK_LOCK_BENCH : DEFAULT_LOCK_BENCH,
        only ? new RegExp(only) : undefined,
      );
      // The many-holders cell: kept when BENCH_LOCKS_ONLY matches its id.
      if (!only || new RegExp(only).test(HOLDERS_ID)) {
        result.holders = await benchHolders(
          url,
          log,
          quick ? QUICK_HOLDERS_BENCH : DEFAULT_HOLDERS_BENCH,
        );
      }
      // The hand-off breakdown cell: kept when BENCH_LOCKS_ONLY matches its id.
      if (!only || new RegExp(only).test(BREAKDOWN_ID)) {
        result.breakdown = await benchBreakdown(
          url,
          log,
          quick ? QUICK_BREAKDOWN_BENCH : DEFAULT_BREAKDOWN_BENCH,
        );
      }
      // The in-flight cell: kept when BENCH_LOCKS_ONLY matches its id.
      if (!only || new RegExp(only).test(INFLIGHT_ID)) {
        result.inflight = await benchInflight(
          url,
          log,
          quick ? QUICK_INFLIGHT_BENCH : DEFAULT_INFLIGHT_BENCH,
        );
      }
      // The shared-client cells: kept when BENCH_LOCKS_ONLY matches "ours-shared".
      if (!only || new RegExp(only).test(SHARED_ID)) {
        result.shared = await benchShared(
          url,
          log,
          quick ? QUICK_SHARED_BENCH : DEFAULT_SHARED_BENCH,
        );
      }
      const json = process.env.BENCH_LOCKS_JSON;
      if (json) await writeFile(json, JSON.stringify(result));
      await mkdir(new URL("./results/", import.meta.url), { recursive: true });
      await writeFile(CHART, handoffChart(result));
      await formatFile(CHART);
      log(`wrote ${CHART.pathname}`);
      return locksMarkdown(result, "handoff.svg");
    },
  },
  {
    // The lock cells again, in one process per runtime (Deno, Bun; see
    // BENCH_RUNTIMES), alternated step by step, reported side by side.
    name: "runtimes",
    run: async ({ url, log }) => {
      const quick = process.env.BENCH_QUICK === "1";
      return runtimesMarkdown(
        await benchRuntimes(url, log, {
          ...(quick ? QUICK_RUNTIMES_BENCH : DEFAULT_RUNTIMES_BENCH),
          runtimes: runtimesFromEnv(),
        }),
      );
    },
  },
  {
    // Starts its own 3 + 3 cluster on 127.0.0.1 (harness/cluster.ts) and
    // compares it with a single-node client of `url`.
    name: "cluster",
    run: async ({ url, log }) => {
      const quick = process.env.BENCH_QUICK === "1";
      return clusterMarkdown(
        await benchCluster(
          url,
          log,
          quick ? QUICK_CLUSTER_BENCH : DEFAULT_CLUSTER_BENCH,
        ),
      );
    },
  },
  {
    // Starts its own primary and replica (harness/server.ts), whatever `url`
    // is, and compares mutexes with and without `durability` on them.
    name: "durability",
    run: async ({ log }) => {
      const quick = process.env.BENCH_QUICK === "1";
      return durabilityMarkdown(
        await benchDurability(
          log,
          quick ? QUICK_DURABILITY_BENCH : DEFAULT_DURABILITY_BENCH,
        ),
      );
    },
  },
];

/** The whole run is aborted (exit code 1) past this. */
const WATCHDOG_MS = 16 * 60_000;

const RESULTS = new URL("./results/latest.md", import.meta.url);
/** The hand-off chart that `latest.md` and the READMEs show. */
const CHART = new URL("./results/handoff.svg", import.meta.url);

/**
 * `BENCH_SECTIONS=locks` (comma-separated names) runs only those sections;
 * the report then holds only them.
 */
function selectedSections(): Section[] {
  const wanted = process.env.BENCH_SECTIONS?.split(",").map((s) => s.trim())
    .filter((s) => s !== "");
  if (!wanted || wanted.length === 0) return SECTIONS;
  const unknown = wanted.filter((w) => !SECTIONS.some((s) => s.name === w));
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_SECTIONS: unknown section(s) ${unknown.join(", ")}; known: ${
        SECTIONS.map((s) => s.name).join(", ")
      }`,
    );
  }
  return SECTIONS.filter((s) => wanted.includes(s.name));
}

function runtimeLine(): string {
  const { deno, v8, typescript } = Deno.version;
  const runtime = `Deno ${deno} (V8 ${v8}, TypeScript ${typescript})`;
  const cpu = cpus();
  const load = loadavg().map((l) => l.toFixed(2)).join(" ");
  return `${runtime}; ${platform()} ${arch()}, ${cpu.length} cores (${
    cpu[0]?.model.trim() ?? "unknown CPU"
  }), load average at start ${load}; ${new Date().toISOString()}`;
}

/**
 * Runs `deno fmt` on a generated file (the report, the chart), so that it
 * stays clean for the project's `deno fmt --check` (aligned tables, wrapped
 * prose). Best effort.
 */
function formatFile(file: URL): Promise<void> {
  return new Promise((resolve) => {
    execFile(
      Deno.execPath(),
      ["fmt", "--quiet", file.pathname],
      { timeout: 30_000 },
      (error) => {
        if (error) {
          console.error(
            `bench: deno fmt of the report failed: ${error.message}`,
          );
        }
        resolve();
      },
    );
  });
}

function stamp(): string {
  return new Date().toISOString().slice(11, 19);
}

async function main(): Promise<void> {
  const started = performance.now();
  const watchdog = setTimeout(() => {
    console.error(
      `bench: still running after ${WATCHDOG_MS / 1_000} s, giving up`,
    );
    process.exit(1);
  }, WATCHDOG_MS);
  // Does not keep the process alive: it only fires while work is pending.
  Deno.unrefTimer(watchdog);

  const sections = selectedSections();
  const runtime = runtimeLine();
  console.log(`bench: ${runtime}`);
  const external = process.env.REDIS_URL;
  const server = external ? undefined : await startRedis();
  const url = external || server?.url || "";
  console.log(
    server
      ? `bench: started redis-server on ${url}`
      : `bench: using REDIS_URL ${url.replace(/\/\/[^@/]*@/, "//***@")}`,
  );
  const parts: string[] = [];
  try {
    for (const section of sections) {
      console.log(`bench: [${section.name}] starting`);
      const markdown = await section.run({
        url,
        log: (line) => console.log(`${stamp()} [${section.name}] ${line}`),
      });
      parts.push(markdown);
      console.log(`bench: [${section.name}] done`);
    }
  } finally {
    await server?.stop();
    clearTimeout(watchdog);
  }

  const seconds = ((performance.now() - started) / 1_000).toFixed(1);
  const report = [
    "# Benchmark results",
    "",
    `Generated by \`deno task bench\` in ${seconds} s. ${runtime}.`,
    "",
    ...parts.flatMap((part) => [part, ""]),
  ].join("\n");
  await mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await writeFile(RESULTS, report);
  await formatFile(RESULTS);
  console.log(`\n${await readFile(RESULTS, "utf8")}`);
  console.log(`bench: wrote ${RESULTS.pathname}`);
}

await main();
