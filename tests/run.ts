/**
 * The test entry point, `deno task test`: starts one private redis-server
 * (unless `REDIS_URL` is set), runs the suite with `deno test`, then with
 * `bun test`, then on Node.js: every test file, the scripts tests spawn
 * (`cli.ts`, `tests/_*_worker.ts`) bundled for Node 20 with esbuild (from
 * npm), the test files run with `node --test`, one file at a time. Stops the
 * server and prints `tests: N passed, M failed`, over all three runtimes.
 *
 * Arguments: paths (instead of `tests/`) and `--filter NAME` (`-t` for Bun,
 * `--test-name-pattern` for Node) are given to all three runners; any other
 * flag is passed to Deno and Bun verbatim (not to Node). The Node stage is
 * skipped, saying so, when `node` is not on PATH or is older than 20.14.
 *
 * ```sh
 * deno task test
 * deno task test --filter lock tests/lock_test.ts
 * REDIS_URL=redis://127.0.0.1:6379 deno task test
 * ```
 *
 * @module
 */

import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  findExecutable,
  type RedisServer,
  requireRedisServer,
  startRedis,
} from "./_server.ts";

const BUN_VERSION = "1.4.5";
const ESBUILD_VERSION = "0.24.0";
/** The repository, where the runners run. */
const ROOT = fileURLToPath(new URL("../", import.meta.url));
/**
 * Scripts that tests spawn as processes of their own runtime
 * (`tests/_spawn.ts`), besides `tests/_*_worker.ts`: on Node they run from
 * their bundles.
 */
const NODE_SCRIPTS = ["cli.ts"];
/** `--test-concurrency` (20.10) and `--test-force-exit` (20.14). */
const NODE_MIN_VERSION = [20, 14];
/** Wall-clock limit of one runtime's whole run. */
const RUN_LIMIT_MS = 30 * 60_000;
/** How much of a runner's output is kept to find its summary. */
const TAIL_CHARS = 64 * 1024;

interface Counts {
  passed: number;
  failed: number;
}

interface Result extends Counts {
  ok: boolean;
  /** Wall-clock time of the stage. */
  ms: number;
}

interface Plan {
  paths: string[];
  filter?: string;
  extra: string[];
}

function parseArgs(args: string[]): Plan {
  const plan: Plan = { paths: [], extra: [] };
  const rest = args[0] === "--" ? args.slice(1) : args;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--filter") {
      if (i + 1 >= rest.length) throw new Error("--filter needs a value");
      plan.filter = rest[++i];
    } else if (arg.startsWith("--filter=")) {
      plan.filter = arg.slice("--filter=".length);
    } else if (arg.startsWith("-")) {
      plan.extra.push(arg);
    } else {
      plan.paths.push(arg);
    }
  }
  if (plan.paths.length === 0) plan.paths.push("tests/");
  return plan;
}

/**
 * `node --test --test-reporter=tap` ends with `# pass N`, `# fail M` and
 * `# cancelled K` lines; a cancelled test (its file's process died or hung
 * up) counts as failed.
 */
function nodeCounts(output: string): Counts | undefined {
  const text = output.replace(ANSI, "");
  const last = (name: string) =>
    [...text.matchAll(new RegExp(`^# ${name} (\\d+)\\s*$`, "gm"))].at(-1);
  const passed = last("pass");
  const failed = last("fail");
  const cancelled = last("cancelled");
  if (passed === undefined && failed === undefined) return undefined;
  return {
    passed: Number(passed?.[1] ?? 0),
    failed: Number(failed?.[1] ?? 0) + Number(cancelled?.[1] ?? 0),
  };
}

/** The Node version at `node`, as numbers, or `undefined` if it does not run. */
async function nodeVersion(node: string): Promise<number[] | undefined> {
  try {
    const { success, stdout } = await new Deno.Command(node, {
      args: ["--version"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const match = /^v(\d+)\.(\d+)\.(\d+)/.exec(
      new TextDecoder().decode(stdout),
    );
    return success && match ? match.slice(1).map(Number) : undefined;
  } catch {
    return undefined;
  }
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

/**
 * Runs esbuild from npm: bundles `entries` (paths in the repository) for
 * Node 20, each as `outdir/<its path>.mjs`.
 */
function bundleForNode(
  label: string,
  entries: string[],
  outdir: string,
  main: boolean,
  env: Record<string, string>,
): Promise<Result> {
  return runOne(
    label,
    "npx",
    [
      "-y",
      `esbuild@${ESBUILD_VERSION}`,
      ...entries.map((entry) => join(ROOT, entry)),
      "--bundle",
      "--platform=node",
      "--format=esm",
      "--target=node20",
      // Node 20 has no import.meta.main: true for a script run as such,
      // false for the test files (bench/chaos.ts has a main of its own).
      `--define:import.meta.main=${main}`,
      `--outbase=${ROOT}`,
      `--outdir=${outdir}`,
      "--out-extension:.js=.mjs",
      "--log-level=warning",
    ],
    env,
    () => ({ passed: 0, failed: 0 }),
    `-y esbuild@${ESBUILD_VERSION} (${entries.length} files) --bundle ` +
      `--platform=node --target=node20 --outdir=${outdir}`,
  );
}

/**
 * The Node stage: bundles the test files and the scripts they spawn for
 * Node 20 (TypeScript, `await using` lowered) into a temporary directory
 * laid out like the repository (so `new URL("./_lock_worker.ts",
 * import.meta.url)` in a bundle names the worker's bundle, `.ts` for `.mjs`:
 * see `tests/_spawn.ts`), and runs them with `node --test`, one file after
 * another. A reason string when it does not run.
 */
async function runNode(
  plan: Plan,
  env: Record<string, string>,
): Promise<Result | string> {
  const node = findExecutable("node");
  if (!node) return "node not on PATH";
  const version = await nodeVersion(node);
  if (!version) return `${node} --version failed`;
  const [major, minor] = NODE_MIN_VERSION;
  if (version[0] < major || (version[0] === major && version[1] < minor)) {
    return `Node ${version.join(".")} is older than ${major}.${minor}`;
  }
  const started = performance.now();
  const tests: string[] = [];
  for (const path of plan.paths) {
    for (const file of await testFiles(resolve(path))) {
      tests.push(relative(ROOT, file));
    }
  }
  if (tests.length === 0) return "no test files";
  const workers: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, "tests"))) {
    if (/^_.*_worker\.ts$/.test(entry.name)) {
      workers.push(`tests/${entry.name}`);
    }
  }
  const dir = await Deno.makeTempDir({ prefix: "redsync-node-" });
  try {
    const failedBuild = (): Result => ({
      passed: 0,
      failed: 1,
      ok: false,
      ms: performance.now() - started,
    });
    const build = await bundleForNode(
      "node (bundle tests)",
      [...tests, ...workers.sort()],
      dir,
      false,
      env,
    );
    if (!build.ok) return failedBuild();
    const scripts = await bundleForNode(
      "node (bundle scripts)",
      NODE_SCRIPTS,
      dir,
      true,
      env,
    );
    if (!scripts.ok) return failedBuild();
    const args = [
      "--test",
      "--test-reporter=tap",
      "--test-concurrency=1",
      // Ends each file's process once its tests are done, as Deno and Bun do.
      "--test-force-exit",
    ];
    if (plan.filter !== undefined) {
      args.push(`--test-name-pattern=${bunPattern(plan.filter)}`);
    }
    args.push(...tests.map((file) => join(dir, file.replace(/\.ts$/, ".mjs"))));
    const result = await runOne("node", node, args, env, nodeCounts);
    return { ...result, ms: performance.now() - started };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Deno's `--filter` is a substring unless written `/regex/`; Bun's `-t` is a regex. */
function bunPattern(filter: string): string {
  const regex = /^\/(.*)\/$/.exec(filter);
  return regex ? regex[1] : filter.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Bun takes a bare word as a file-name filter; make paths explicit. */
function bunPath(path: string): string {
  return /^(\.{1,2}\/|\/)/.test(path) ? path : `./${path}`;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** Deno ends with `ok | 3 passed (2 steps) | 0 failed | 1 ignored (1s)`. */
function denoCounts(output: string): Counts | undefined {
  const lines = output.replace(ANSI, "").split(/\r?\n/);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (!/^(ok|FAILED) \|/.test(line)) continue;
    const passed = /\| (\d+) passed/.exec(line);
    const failed = /\| (\d+) failed/.exec(line);
    if (passed && failed) {
      return { passed: Number(passed[1]), failed: Number(failed[1]) };
    }
  }
  return undefined;
}

/** Bun ends with ` 3 pass` / ` 0 fail` lines. */
function bunCounts(output: string): Counts | undefined {
  const text = output.replace(ANSI, "");
  const passed = [...text.matchAll(/^\s*(\d+) pass\s*$/gm)].at(-1);
  const failed = [...text.matchAll(/^\s*(\d+) fail\s*$/gm)].at(-1);
  if (passed === undefined && failed === undefined) return undefined;
  return { passed: Number(passed?.[1] ?? 0), failed: Number(failed?.[1] ?? 0) };
}

/**
 * Per-test result lines, for a runner that dies before its summary (crash,
 * out of memory): Deno's `name ... ok (1ms)` / `name ... FAILED (1ms)`,
 * Bun's `(pass) name` / `(fail) name` and Node's TAP `ok 1 - name` /
 * `not ok 1 - name`.
 */
function countLine(line: string, counts: Counts): void {
  const text = line.replace(ANSI, "");
  if (
    /^\S.* \.\.\. ok \(/.test(text) || text.startsWith("(pass) ") ||
    /^ok \d+ - (?!.*# SKIP)/.test(text)
  ) {
    counts.passed++;
  } else if (
    /^\S.* \.\.\. FAILED( \(|$)/.test(text) || text.startsWith("(fail) ") ||
    /^not ok \d+ - /.test(text)
  ) counts.failed++;
}

let current: Deno.ChildProcess | undefined;
let interrupted = false;
let server: RedisServer | undefined;

async function pump(
  stream: ReadableStream<Uint8Array>,
  sink: { write(p: Uint8Array): Promise<number> },
  keep: (text: string) => void,
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stream) {
    let written = 0;
    while (written < chunk.length) {
      written += await sink.write(chunk.subarray(written));
    }
    const text = decoder.decode(chunk, { stream: true });
    keep(text);
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    if (partial.length > TAIL_CHARS) partial = "";
    for (const line of lines) onLine(line);
  }
  if (partial !== "") onLine(partial);
}

/**
 * Runs one runner, echoing its output; returns its counts, exit code and
 * time. `shown`: what to print instead of the whole command line.
 */
async function runOne(
  label: string,
  command: string,
  args: string[],
  env: Record<string, string>,
  parse: (output: string) => Counts | undefined,
  shown?: string,
): Promise<Result> {
  const started = performance.now();
  const ms = () => performance.now() - started;
  if (interrupted) return { passed: 0, failed: 0, ok: false, ms: ms() };
  console.log(
    `\n== ${label}: ${command} ${shown ?? args.join(" ")}`,
  );
  let tail = "";
  const keep = (text: string) => {
    tail = (tail + text).slice(-TAIL_CHARS);
  };
  const seen: Counts = { passed: 0, failed: 0 };
  const onLine = (line: string) => countLine(line, seen);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    console.error(`${label}: cannot start ${command}: ${error}`);
    return { passed: 0, failed: 1, ok: false, ms: ms() };
  }
  current = child;
  let timedOut = false;
  const limit = setTimeout(() => {
    timedOut = true;
    console.error(
      `${label}: still running after ${RUN_LIMIT_MS / 60_000} min, killing it`,
    );
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, RUN_LIMIT_MS);
  try {
    await Promise.all([
      pump(child.stdout, Deno.stdout, keep, onLine),
      pump(child.stderr, Deno.stderr, keep, onLine),
    ]);
    const status = await child.status;
    const ok = status.success && !timedOut;
    let counts = parse(tail);
    if (counts === undefined) {
      console.error(
        `${label}: no test summary found (exit code ${status.code}); ` +
          `counted ${seen.passed} passed, ${seen.failed} failed from its output`,
      );
      counts = seen;
    }
    // A runner that fails without a failed test (crash, load error...) counts one.
    if (!ok && counts.failed === 0) {
      console.error(
        `${label}: exit code ${status.code} without a failed test; counting 1 failure`,
      );
      return { ...counts, failed: 1, ok, ms: ms() };
    }
    return { ...counts, ok, ms: ms() };
  } finally {
    clearTimeout(limit);
    current = undefined;
  }
}

async function main(): Promise<number> {
  let plan: Plan;
  try {
    plan = parseArgs(Deno.args);
  } catch (error) {
    console.error(
      `tests/run.ts: ${error instanceof Error ? error.message : error}`,
    );
    return 2;
  }

  const env: Record<string, string> = {};
  let url = Deno.env.get("REDIS_URL");
  if (!url) {
    try {
      requireRedisServer();
    } catch (error) {
      console.error(error instanceof Error ? error.message : error);
      return 1;
    }
    server = await startRedis();
    url = server.url;
    console.log(`shared redis-server: ${url} (private, stopped at the end)`);
  } else {
    console.log(`shared Redis from REDIS_URL`);
  }
  env.REDIS_URL = url;
  if (Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR")) {
    env.FORCE_COLOR = "1";
  }

  const denoArgs = ["test", "-A", ...plan.extra];
  if (plan.filter !== undefined) denoArgs.push("--filter", plan.filter);
  denoArgs.push(...plan.paths);

  const bunArgs = ["test", "--timeout", "120000", ...plan.extra];
  if (plan.filter !== undefined) bunArgs.push("-t", bunPattern(plan.filter));
  bunArgs.push(...plan.paths.map(bunPath));
  const bun = findExecutable("bun");
  const [bunCommand, bunPrefix] = bun === undefined
    ? ["npx", ["-y", `bun@${BUN_VERSION}`]]
    : [bun, []];

  const results = [
    await runOne("deno", Deno.execPath(), denoArgs, env, denoCounts),
    await runOne("bun", bunCommand, [...bunPrefix, ...bunArgs], env, bunCounts),
  ];
  const node = await runNode(plan, env);

  await server?.stop();
  server = undefined;

  const all = typeof node === "string" ? results : [...results, node];
  const passed = all.reduce((sum, r) => sum + r.passed, 0);
  const failed = all.reduce((sum, r) => sum + r.failed, 0);
  const line = (name: string, r: Result) =>
    `${name}: ${r.passed} passed, ${r.failed} failed (${
      Math.round(r.ms / 1000)
    } s)`;
  console.log(
    `\n${line("deno", results[0])}; ${line("bun", results[1])}; ` +
      (typeof node === "string"
        ? `node: skipped (${node})`
        : line("node", node)),
  );
  console.log(`tests: ${passed} passed, ${failed} failed`);
  return all.every((r) => r.ok) && failed === 0 && passed > 0 ? 0 : 1;
}

function onSignal(signal: Deno.Signal): void {
  // `deno task` forwards the signal that the process group also got: act once.
  if (interrupted) return;
  interrupted = true;
  console.error(`\ntests/run.ts: ${signal}, stopping`);
  try {
    current?.kill("SIGTERM");
  } catch {
    // already gone
  }
  const stopped = server?.stop() ?? Promise.resolve();
  stopped.finally(() => Deno.exit(130));
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
  await server?.stop();
}
Deno.exit(code);
