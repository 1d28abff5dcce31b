/**
 * The failover measure of `durability`, repeated: `runFailover()` from
 * `harness/failover.ts` (a Sentinel failover that loses the last 2.5 s of
 * writes while 12 workers contend for a Semaphore(4)) `FAILOVER_RUNS` times
 * without durability and as many times with `durability: { replicas: 1 }`,
 * the runs alternating between the two (without, with, without, ...). Prints
 * a line per run and writes `bench/results/failover.md` (`report.ts`): a row per run and
 * the totals per mode.
 *
 * `deno run -A bench/failover/main.ts` (`FAILOVER_RUNS=5` for more runs; each
 * takes 15-35 s). Exits 1 when a run failed or reported errors, or when a
 * run with durability lost a grant or admitted past the limit.
 *
 * `deno run -A bench/failover/main.ts --cluster` (or `FAILOVER_TOPOLOGY=cluster`)
 * measures the same on a Redis Cluster shard instead: `runClusterFailover()`
 * (3 primaries + 3 replicas; the replication of the shard that owns the
 * semaphore's slot frozen at its primary's proxy, the primary killed, its
 * replica promoted by the cluster, the old primary restarted empty as its
 * replica), and writes `bench/results/failover_cluster.md`.
 *
 * @module
 */
import { mkdir, writeFile } from "node:fs/promises";
import process from "node:process";
import {
  type FailoverRunOptions,
  type FailoverRunResult,
  runClusterFailover,
  runFailover,
} from "../../harness/failover.ts";
import { int, num } from "../shared/format.ts";
import { formatFile, runtimeLine } from "../shared/output.ts";
import { report } from "./report.ts";
import {
  DURABILITY,
  MODES,
  type Run,
  SCENARIO,
  type Topology,
} from "./types.ts";

function topologyFromEnv(): Topology {
  const raw = process.env.FAILOVER_TOPOLOGY ?? "sentinel";
  if (raw !== "sentinel" && raw !== "cluster") {
    throw new RangeError(
      `FAILOVER_TOPOLOGY must be "sentinel" or "cluster": current value is ${raw}`,
    );
  }
  return Deno.args.includes("--cluster") ? "cluster" : raw;
}

const TOPOLOGY = topologyFromEnv();
const CLUSTER = TOPOLOGY === "cluster";
const RUN: (options: FailoverRunOptions) => Promise<FailoverRunResult> = CLUSTER
  ? runClusterFailover
  : runFailover;
const RESULTS = new URL(
  CLUSTER ? "../results/failover_cluster.md" : "../results/failover.md",
  import.meta.url,
);

function runsFromEnv(): number {
  const raw = process.env.FAILOVER_RUNS ?? "3";
  const runs = Number(raw);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) {
    throw new RangeError(
      `FAILOVER_RUNS must be an integer from 1 to 50: current value is ${raw}`,
    );
  }
  return runs;
}

function errorText(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message.split("\n")[0]}`
    : String(error);
}

async function main(): Promise<number> {
  const perMode = runsFromEnv();
  const started = performance.now();
  const runtime = runtimeLine();
  console.log(`failover (${TOPOLOGY}): ${runtime}`);
  // Each run is bounded (about 35 s); this only catches a hang.
  const watchdogMs = (2 * perMode * 90 + 60) * 1_000;
  const watchdog = setTimeout(() => {
    console.error(
      `failover: still running after ${watchdogMs / 1_000} s, giving up`,
    );
    process.exit(1);
  }, watchdogMs);
  Deno.unrefTimer(watchdog);
  const runs: Run[] = [];
  try {
    for (let i = 0; i < 2 * perMode; i++) {
      const mode = MODES[i % 2];
      const run: Run = { index: i + 1, mode, seconds: NaN };
      console.log(`failover: run ${run.index}/${2 * perMode}, ${mode}`);
      const begun = performance.now();
      try {
        run.result = await RUN({
          ...SCENARIO,
          durability: mode === "with" ? DURABILITY : undefined,
        });
        if (run.result.errors.length > 0) {
          run.failure = `${run.result.errors.length} error(s), the first: ${
            errorText(run.result.errors[0])
          }`;
        }
      } catch (error) {
        run.failure = errorText(error);
      }
      run.seconds = (performance.now() - begun) / 1_000;
      runs.push(run);
      const r = run.result;
      console.log(
        `failover: run ${run.index} (${mode}) in ${num(run.seconds, 1)} s: ${
          r
            ? `grants ${r.grants}, lost with the primary ${r.grantsLost}, over-admissions ${r.overAdmissions}, most believers ${r.mostBelievers}, leases lost ${r.lost}, shortfalls ${r.shortfalls}, resumed ${
              int(r.resumedMs)
            } ms after the kill${
              CLUSTER
                ? ` (failover ${
                  int(r.failoverMs ?? NaN)
                } ms, old primary back ${int(r.rejoinedMs ?? NaN)} ms)`
                : ""
            }, errors ${r.errors.length}`
            : "failed"
        }${run.failure ? `; ${run.failure}` : ""}`,
      );
    }
  } finally {
    clearTimeout(watchdog);
  }
  const seconds = (performance.now() - started) / 1_000;
  await mkdir(new URL("../results/", import.meta.url), { recursive: true });
  await writeFile(RESULTS, report(runs, perMode, seconds, runtime, CLUSTER));
  await formatFile(RESULTS);
  console.log(`\n${await Deno.readTextFile(RESULTS)}`);
  console.log(`failover: wrote ${RESULTS.pathname}`);
  const broken = runs.some((r) =>
    r.failure !== undefined ||
    (r.mode === "with" &&
      (r.result!.grantsLost > 0 || r.result!.overAdmissions > 0))
  );
  return broken ? 1 : 0;
}

process.exitCode = await main();
