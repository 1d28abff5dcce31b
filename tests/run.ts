/**
 * The test entry point, `deno task test`: every test file on Deno, Bun and
 * Node, several files at a time, each file in a process of its own with a
 * private redis-server of its own (unless `REDIS_URL` is set: then every
 * file uses that server, one file at a time). Prints each file's result as
 * it ends (its whole output when it failed), then the counts per runtime and
 * `tests: N passed, M failed` over all three.
 *
 * Before the files run, each runtime is prepared once: Deno type-checks the
 * suite (`deno check`; the files then run with `--no-check`), Node gets the
 * test files and the scripts they spawn bundled by esbuild (from npm), Bun
 * is taken from PATH or npm. The runtimes' files share one pool of job
 * slots, the slowest files first.
 *
 * The compatibility matrix: the files in {@linkcode MATRIX} run once more
 * on older server profiles ("6.2-like", "6.0-like": `harness/profiles.ts`,
 * the same redis-server with the commands those versions lack taken away),
 * on each runtime, with `REDSYNC_REDIS_PROFILE` set for the job (its own
 * server, and every server its tests start, emulate the profile; test
 * names start with `[redis 6.2-like] `). With `REDSYNC_REDIS_PROFILE` set
 * for the runner, every file runs on that profile only; with `REDIS_URL`,
 * there is no matrix (the shared server is what it is).
 *
 * ```sh
 * deno task test                                # everything, ~3.5 min on 2 cores
 * deno task test --runtime deno                 # one runtime
 * deno task test tests/mutex_test.ts            # one file, on all three
 * deno task test --runtime bun --filter abort tests/mutex_test.ts
 * deno task test --jobs 2 --verbose             # fewer at a time, all output
 * REDIS_URL=redis://127.0.0.1:6379 deno task test
 * REDSYNC_REDIS_PROFILE=6.2 deno task test tests/mutex_test.ts  # one profile
 * REDSYNC_REDIS_PROFILE=7.0 deno task test      # no matrix
 * ```
 *
 * A runtime is skipped, saying so, when it cannot be had (Node older than
 * 20.14, say); a skipped runtime asked for with `--runtime` is a failure.
 *
 * @module
 */

import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type RedisServer,
  requireRedisServer,
  startRedis,
} from "../harness/server.ts";
import {
  activeProfile,
  type Profile,
  profileLabel,
  PROFILES,
} from "../harness/profiles.ts";
import {
  ANSI,
  type CommandLine,
  countLines,
  type Counts,
  prepare,
  type Prepared,
  type RuntimeName,
  RUNTIMES,
} from "./_runtimes.ts";

/** The repository, where the runners run. */
const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** Files run at once, by default, each with its own redis-server. */
const DEFAULT_JOBS = 6;
/** Wall-clock limit of one file's run (or one preparation step). */
const JOB_LIMIT_MS = 8 * 60_000;
/** How much of a job's output is kept (its end) to show when it fails. */
const OUTPUT_CHARS = 256 * 1024;
/**
 * Seconds each slow file takes on one runtime, as measured on a 2-core
 * machine: the pool starts the slowest first, so that no long file starts
 * last. Files not listed count as {@linkcode DEFAULT_SECONDS}.
 */
const SECONDS: Record<string, number> = {
  "tests/failover_test.ts": 45,
  "tests/chaos_test.ts": 35,
  "tests/cluster_durability_test.ts": 30,
  "tests/shared_client_test.ts": 25,
  "tests/mutex_test.ts": 22,
  "tests/redlock_test.ts": 20,
  "tests/durability_test.ts": 18,
  "tests/npm_package_test.ts": 17,
  "tests/otel_test.ts": 15,
  "tests/reliability_test.ts": 14,
  "tests/sentinel_test.ts": 14,
  "tests/readme_examples_test.ts": 13,
  "tests/cluster_failover_test.ts": 13,
  "tests/cli_test.ts": 10,
  "tests/process_test.ts": 8,
  "tests/semaphore_test.ts": 8,
  "tests/rwlock_test.ts": 7,
  "tests/outage_test.ts": 7,
  "tests/resp_test.ts": 6,
  "tests/cluster_harness_test.ts": 6,
  "tests/unavailable_test.ts": 6,
};
const DEFAULT_SECONDS = 5;
/**
 * The files the older profiles run, each on every runtime: those whose
 * paths depend on what the server has: the wake hub (`BLMPOP`, or `BLPOP`
 * and a drain), the cluster (`CLUSTER SHARDS` or `SLOTS`, sharded pub/sub
 * or polled lists), Sentinel, the lock and event scripts (`SPUBLISH` or
 * a list), `WAITAOF`. The library takes the same paths on both older
 * profiles (they differ in 6.2's commands, which it does not send), so
 * the files are shared out between them, `compat_test.ts` (which checks
 * the path taken) and the events on both, to keep the whole command well
 * under 5 minutes.
 */
const MATRIX: Record<string, Profile[]> = {
  "tests/compat_test.ts": ["6.2", "6.0"],
  "tests/event_test.ts": ["6.2", "6.0"],
  "tests/shared_client_test.ts": ["6.2"],
  "tests/sentinel_test.ts": ["6.2"],
  "tests/cluster_test.ts": ["6.2", "6.0"],
  "tests/mutex_test.ts": ["6.0"],
  "tests/semaphore_test.ts": ["6.0"],
};
/** Where the jobs' port ranges start, and end (exclusive). */
const PORTS_BASE = 20_000;
const PORTS_END = 32_768;

/** What to run. */
interface Plan {
  paths: string[];
  filter?: string;
  runtimes: RuntimeName[];
  jobs: number;
  verbose: boolean;
}

/** One test file on one runtime, against one server profile. */
interface Job {
  runtime: RuntimeName;
  file: string;
  weight: number;
  profile: Profile;
}

/** How a job or a step ended. */
interface Outcome extends Counts {
  ok: boolean;
  ms: number;
}

const USAGE = "usage: deno task test [--runtime deno|bun|node]... " +
  "[--filter NAME] [--jobs N] [--verbose] [PATH...]";

function parseArgs(args: string[]): Plan {
  const plan: Plan = { paths: [], runtimes: [], jobs: 0, verbose: false };
  const rest = args[0] === "--" ? args.slice(1) : args;
  const value = (i: number, flag: string) => {
    if (i >= rest.length) throw new Error(`${flag} needs a value\n${USAGE}`);
    return rest[i];
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const take = () => inline ?? value(++i, flag);
    if (flag === "--filter") plan.filter = take();
    else if (flag === "--runtime") {
      for (const name of take().split(",")) {
        if (!(RUNTIMES as readonly string[]).includes(name)) {
          throw new Error(
            `--runtime must be one of ${
              RUNTIMES.join(", ")
            }: current value is "${name}"`,
          );
        }
        plan.runtimes.push(name as RuntimeName);
      }
    } else if (flag === "--jobs") {
      const jobs = Number(take());
      if (!Number.isInteger(jobs) || jobs < 1) {
        throw new Error(`--jobs must be a positive integer\n${USAGE}`);
      }
      plan.jobs = jobs;
    } else if (flag === "--verbose") plan.verbose = true;
    else if (flag === "--help" || flag === "-h") throw new Error(USAGE);
    else if (arg.startsWith("-")) {
      throw new Error(`unknown flag ${arg}\n${USAGE}`);
    } else plan.paths.push(arg);
  }
  if (plan.paths.length === 0) plan.paths.push("tests/");
  if (plan.runtimes.length === 0) plan.runtimes.push(...RUNTIMES);
  return plan;
}

/** Test files under `path` (a file, or a directory searched recursively). */
async function testFiles(path: string): Promise<string[]> {
  const info = await Deno.stat(path);
  if (!info.isDirectory) return [path];
  const files: string[] = [];
  for await (const entry of Deno.readDir(path)) {
    const child = join(path, entry.name);
    if (entry.isDirectory) files.push(...await testFiles(child));
    else if (
      entry.isFile && /(_|\.)test\.ts$/.test(entry.name) &&
      !entry.name.startsWith("_")
    ) files.push(child);
  }
  return files.sort();
}

const running = new Set<Deno.ChildProcess>();
const servers = new Set<RedisServer>();
let interrupted = false;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Reads a stream to its end, keeping its last `OUTPUT_CHARS` characters. */
async function drain(
  stream: ReadableStream<Uint8Array>,
  keep: (text: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    keep(decoder.decode(chunk, { stream: true }));
  }
}

/**
 * Runs one command with `env`, its output kept; `counts` reads the
 * runner's summary from it. A run that exits non-zero without a failed
 * test (a crash, a load error, the time limit) counts one failure.
 */
async function runCommand(
  line: CommandLine,
  env: Record<string, string>,
  counts: (output: string) => Counts | undefined,
): Promise<Outcome & { output: string }> {
  const started = performance.now();
  let output = "";
  const keep = (text: string) => {
    output = (output + text).slice(-OUTPUT_CHARS);
  };
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(line.command, {
      args: line.args,
      cwd: ROOT,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    return {
      passed: 0,
      failed: 1,
      ok: false,
      ms: performance.now() - started,
      output: `cannot start ${line.command}: ${error}`,
    };
  }
  running.add(child);
  let timedOut = false;
  const limit = setTimeout(() => {
    timedOut = true;
    keep(`\n(still running after ${seconds(JOB_LIMIT_MS)}: killed)\n`);
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, JOB_LIMIT_MS);
  try {
    await Promise.all([drain(child.stdout, keep), drain(child.stderr, keep)]);
    const status = await child.status;
    const ok = status.success && !timedOut;
    const found = counts(output) ?? countLines(output);
    const failed = !ok && found.failed === 0 ? 1 : found.failed;
    return {
      passed: found.passed,
      failed,
      ok: ok && failed === 0,
      ms: performance.now() - started,
      output,
    };
  } finally {
    clearTimeout(limit);
    running.delete(child);
  }
}

/** Prints a finished job or step: one line, and its output when it failed. */
function report(
  label: string,
  outcome: Outcome & { output: string },
  verbose: boolean,
  line: CommandLine,
): void {
  const status = outcome.ok ? "ok    " : "FAILED";
  const text =
    `${status} ${label}: ${outcome.passed} passed, ${outcome.failed} failed (${
      seconds(outcome.ms)
    })`;
  if (!outcome.ok || verbose) {
    const output = Deno.stdout.isTerminal()
      ? outcome.output
      : outcome.output.replace(ANSI, "");
    console.log(
      `\n---- ${label}: ${line.command} ${
        line.args.join(" ")
      }\n${output.trimEnd()}\n---- end of ${label}`,
    );
  }
  console.log(text);
}

/**
 * The job slots: `take()` waits for a free one and returns its index, so
 * that each job running at once gets a port range of its own.
 */
class Slots {
  #free: number[];
  #waiting: ((slot: number) => void)[] = [];
  constructor(count: number) {
    this.#free = Array.from({ length: count }, (_, i) => i);
  }
  async take(): Promise<number> {
    const slot = this.#free.shift();
    if (slot !== undefined) return slot;
    return await new Promise<number>((resolve) => this.#waiting.push(resolve));
  }
  give(slot: number): void {
    const next = this.#waiting.shift();
    if (next) next(slot);
    else this.#free.push(slot);
  }
}

/**
 * The ports slot `slot` of `count` may give its servers
 * (`harness/ports.ts`): a range of its own below the kernel's ephemeral
 * range (32768 and up on Linux), where no client connection takes one.
 */
function portRange(slot: number, count: number): string {
  const size = Math.max(100, Math.floor((PORTS_END - PORTS_BASE) / count));
  const low = PORTS_BASE + slot * size;
  return `${low}-${Math.min(low + size - 1, 65_535)}`;
}

async function main(): Promise<number> {
  let plan: Plan;
  try {
    plan = parseArgs(Deno.args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    return 2;
  }
  const shared = Deno.env.get("REDIS_URL");
  if (!shared) {
    try {
      requireRedisServer();
    } catch (error) {
      console.error(error instanceof Error ? error.message : error);
      return 1;
    }
  }
  const jobCount = plan.jobs || (shared ? 1 : DEFAULT_JOBS);
  let chosen: Profile;
  try {
    chosen = activeProfile();
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    return 2;
  }
  // REDSYNC_REDIS_PROFILE given (or a shared server): that profile only.
  const matrix = Deno.env.get("REDSYNC_REDIS_PROFILE") || shared
    ? []
    : PROFILES.filter((profile) => profile !== chosen);
  const files: string[] = [];
  for (const path of plan.paths) {
    for (const file of await testFiles(resolve(path))) {
      files.push(relative(ROOT, file));
    }
  }
  if (files.length === 0) {
    console.error(`no test files in ${plan.paths.join(" ")}`);
    return 1;
  }
  const baseEnv: Record<string, string> = {};
  if (Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR")) {
    baseEnv.FORCE_COLOR = "1";
  }
  console.log(
    `${files.length} file(s) on ${
      plan.runtimes.join(", ")
    }, ${jobCount} at a time, ` +
      (shared
        ? "all on the server at REDIS_URL"
        : "each with a private redis-server"),
  );

  const started = performance.now();
  const slots = new Slots(jobCount);
  const totals = new Map<RuntimeName, Outcome & { skipped?: string }>();
  const times: { label: string; ms: number }[] = [];
  for (const runtime of plan.runtimes) {
    totals.set(runtime, { passed: 0, failed: 0, ok: true, ms: 0 });
  }
  const add = (runtime: RuntimeName, outcome: Outcome) => {
    const total = totals.get(runtime)!;
    total.passed += outcome.passed;
    total.failed += outcome.failed;
    total.ok &&= outcome.ok;
    total.ms = Math.max(total.ms, performance.now() - started);
  };

  // Preparation steps run at once, outside the slots (they do not wait).
  const prepared = new Map<RuntimeName, Promise<Prepared | string>>();
  for (const runtime of plan.runtimes) {
    prepared.set(
      runtime,
      prepare(runtime, ROOT, files, async (label, line) => {
        const outcome = await runCommand(line, baseEnv, () => undefined);
        report(label, outcome, plan.verbose, line);
        if (!outcome.ok) add(runtime, outcome);
        return outcome.ok;
      }),
    );
  }

  const jobs: Job[] = [];
  for (const file of files) {
    const extra = MATRIX[file] ?? [];
    const profiles = [chosen, ...matrix.filter((p) => extra.includes(p))];
    for (const profile of profiles) {
      for (const runtime of plan.runtimes) {
        jobs.push({
          runtime,
          file,
          weight: SECONDS[file] ?? DEFAULT_SECONDS,
          profile,
        });
      }
    }
  }
  const byProfile = new Map<Profile, Counts>();
  // Slowest first; equal ones alternate runtimes (stable sort).
  jobs.sort((a, b) => b.weight - a.weight);

  const runJob = async (job: Job, ready: Prepared, ports: string) => {
    let server: RedisServer | undefined;
    const tag = profileLabel(job.profile).trim();
    const label = `${job.runtime.padEnd(4)} ${job.file}${tag ? ` ${tag}` : ""}`;
    const counted = (outcome: Counts) => {
      const total = byProfile.get(job.profile) ?? { passed: 0, failed: 0 };
      total.passed += outcome.passed;
      total.failed += outcome.failed;
      byProfile.set(job.profile, total);
    };
    try {
      let url = shared;
      if (!url) {
        server = await startRedis({ portRange: ports, profile: job.profile });
        servers.add(server);
        url = server.url;
      }
      const line = ready.commandFor(job.file, plan.filter);
      const outcome = await runCommand(
        line,
        {
          ...baseEnv,
          REDIS_URL: url,
          REDSYNC_TEST_PORTS: ports,
          REDSYNC_REDIS_PROFILE: job.profile,
        },
        ready.counts,
      );
      if (interrupted) return;
      report(label, outcome, plan.verbose, line);
      times.push({ label, ms: outcome.ms });
      add(job.runtime, outcome);
      counted(outcome);
    } catch (error) {
      console.log(`FAILED ${label}: ${error}`);
      add(job.runtime, { passed: 0, failed: 1, ok: false, ms: 0 });
      counted({ passed: 0, failed: 1 });
    } finally {
      if (server) {
        servers.delete(server);
        await server.stop();
      }
    }
  };

  await Promise.all(jobs.map(async (job) => {
    const ready = await prepared.get(job.runtime)!;
    if (typeof ready === "string") return;
    const slot = await slots.take();
    try {
      if (!interrupted) await runJob(job, ready, portRange(slot, jobCount));
    } finally {
      slots.give(slot);
    }
  }));

  for (const [runtime, promise] of prepared) {
    const ready = await promise;
    const total = totals.get(runtime)!;
    if (typeof ready === "string") {
      total.skipped = ready;
      // Asked for by name, or failed while preparing: a failure.
      if (Deno.args.some((a) => a.startsWith("--runtime")) || total.failed) {
        total.ok = false;
        total.failed ||= 1;
      }
    } else await ready.cleanup();
  }

  const slowest = times.sort((a, b) => b.ms - a.ms).slice(0, 8);
  console.log(
    `\nslowest: ${
      slowest.map((t) => `${t.label.replace(/\s+/, " ")} ${seconds(t.ms)}`)
        .join(", ")
    }`,
  );
  const parts = [...totals].map(([runtime, t]) =>
    t.skipped !== undefined && t.passed === 0
      ? `${runtime}: skipped (${t.skipped})`
      : `${runtime}: ${t.passed} passed, ${t.failed} failed`
  );
  console.log(
    `${parts.join("; ")}; in ${seconds(performance.now() - started)}`,
  );
  if (byProfile.size > 1 || chosen !== "7.0") {
    console.log(
      `profiles: ${
        [...byProfile].map(([profile, t]) =>
          `redis ${profile}${
            profile === "7.0" ? "" : "-like"
          }: ${t.passed} passed, ${t.failed} failed`
        ).join("; ")
      }`,
    );
  }
  const all = [...totals.values()];
  const passed = all.reduce((sum, t) => sum + t.passed, 0);
  const failed = all.reduce((sum, t) => sum + t.failed, 0);
  console.log(`tests: ${passed} passed, ${failed} failed`);
  return all.every((t) => t.ok) && failed === 0 && passed > 0 ? 0 : 1;
}

async function stopAll(): Promise<void> {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  await Promise.all([...servers].map((server) => server.stop()));
}

function onSignal(signal: Deno.Signal): void {
  // `deno task` forwards the signal that the process group also got: act once.
  if (interrupted) return;
  interrupted = true;
  console.error(`\ntests/run.ts: ${signal}, stopping`);
  stopAll().finally(() => Deno.exit(130));
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  try {
    Deno.addSignalListener(signal, () => onSignal(signal));
  } catch {
    // not supported here (Windows: SIGTERM)
  }
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(error);
} finally {
  await stopAll();
}
Deno.exit(code);
