/**
 * The test entry point, `deno task test`: starts one private redis-server
 * (unless `REDIS_URL` is set), runs the suite with `deno test` and then with
 * `bun test`, then (for the whole suite) the Node.js smoke suite bundled with
 * esbuild and run with `node --test`; stops the server and prints
 * `tests: N passed, M failed`.
 *
 * Arguments: paths (instead of `tests/`) and `--filter NAME` (`-t` for Bun)
 * are given to both runners; any other flag is passed to both verbatim.
 *
 * ```sh
 * deno task test
 * deno task test --filter lock tests/lock_test.ts
 * REDIS_URL=redis://127.0.0.1:6379 deno task test
 * ```
 *
 * @module
 */

import {
  findExecutable,
  type RedisServer,
  requireRedisServer,
  startRedis,
} from "./_server.ts";

const BUN_VERSION = "1.4.5";
const ESBUILD_VERSION = "0.24.0";
/** The Node.js stage: bundled with esbuild, run with `node --test`. */
const NODE_SUITE = "tests/node/smoke.node.ts";
/** Wall-clock limit of one runtime's whole run. */
const RUN_LIMIT_MS = 30 * 60_000;
/** How much of a runner's output is kept to find its summary. */
const TAIL_CHARS = 64 * 1024;

interface Counts {
  passed: number;
  failed: number;
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

/** `node --test` ends with `# pass N` and `# fail M` lines. */
function nodeCounts(output: string): Counts | undefined {
  const text = output.replace(ANSI, "");
  const passed = [...text.matchAll(/^# pass (\d+)\s*$/gm)].at(-1);
  const failed = [...text.matchAll(/^# fail (\d+)\s*$/gm)].at(-1);
  if (passed === undefined && failed === undefined) return undefined;
  return { passed: Number(passed?.[1] ?? 0), failed: Number(failed?.[1] ?? 0) };
}

/**
 * Bundles the Node suite for Node 20 with esbuild (from npm) and runs it with
 * `node --test`; skipped when `node` is missing or only some tests were asked.
 */
async function runNode(
  plan: Plan,
  env: Record<string, string>,
): Promise<Counts & { ok: boolean } | undefined> {
  const node = findExecutable("node");
  if (!node || plan.filter !== undefined || plan.paths.join() !== "tests/") {
    return undefined;
  }
  const dir = await Deno.makeTempDir({ prefix: "redsync-node-" });
  try {
    const bundle = `${dir}/smoke.mjs`;
    const build = await runOne(
      "node (bundle)",
      "npx",
      [
        "-y",
        `esbuild@${ESBUILD_VERSION}`,
        NODE_SUITE,
        "--bundle",
        "--platform=node",
        "--format=esm",
        "--target=node20",
        `--outfile=${bundle}`,
      ],
      env,
      () => ({ passed: 0, failed: 0 }),
    );
    if (!build.ok) return { passed: 0, failed: 1, ok: false };
    return await runOne(
      "node",
      node,
      ["--test", "--test-reporter=tap", bundle],
      env,
      nodeCounts,
    );
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
 * out of memory): Deno's `name ... ok (1ms)` / `name ... FAILED (1ms)` and
 * Bun's `(pass) name` / `(fail) name`.
 */
function countLine(line: string, counts: Counts): void {
  const text = line.replace(ANSI, "");
  if (/^\S.* \.\.\. ok \(/.test(text) || text.startsWith("(pass) ")) {
    counts.passed++;
  } else if (
    /^\S.* \.\.\. FAILED( \(|$)/.test(text) || text.startsWith("(fail) ")
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

/** Runs one runner, echoing its output; returns its counts and exit code. */
async function runOne(
  label: string,
  command: string,
  args: string[],
  env: Record<string, string>,
  parse: (output: string) => Counts | undefined,
): Promise<Counts & { ok: boolean }> {
  if (interrupted) return { passed: 0, failed: 0, ok: false };
  console.log(`\n== ${label}: ${[command, ...args].join(" ")}`);
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
    return { passed: 0, failed: 1, ok: false };
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
      return { ...counts, failed: 1, ok };
    }
    return { ...counts, ok };
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

  const all = node ? [...results, node] : results;
  const passed = all.reduce((sum, r) => sum + r.passed, 0);
  const failed = all.reduce((sum, r) => sum + r.failed, 0);
  console.log(
    `\ndeno: ${results[0].passed} passed, ${results[0].failed} failed; ` +
      `bun: ${results[1].passed} passed, ${results[1].failed} failed; ` +
      (node
        ? `node: ${node.passed} passed, ${node.failed} failed`
        : "node: skipped"),
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
