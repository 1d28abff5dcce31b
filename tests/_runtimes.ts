/**
 * How each runtime runs one test file, for `tests/run.ts`: the command line,
 * the one-time preparation it needs (Deno: one type check of the suite;
 * Node: esbuild bundles of the test files and the scripts they spawn; Bun:
 * its binary), and how its output says how many tests passed and failed.
 *
 * @module
 */

import { join } from "node:path";
import { findExecutable } from "../harness/server.ts";

/** The runtimes the suite runs on, in the order they are reported. */
export const RUNTIMES = ["deno", "bun", "node"] as const;
/** One of {@linkcode RUNTIMES}. */
export type RuntimeName = typeof RUNTIMES[number];

export const BUN_VERSION = "1.4.5";
const ESBUILD_VERSION = "0.24.0";
/** `--test-force-exit` (20.14). */
const NODE_MIN_VERSION = [20, 14];
/**
 * Scripts that tests spawn as processes of their own runtime
 * (`harness/spawn.ts`), besides `tests/_*_worker.ts`: on Node they run from
 * their bundles.
 */
const NODE_SCRIPTS = ["cli.ts"];

/** Passed and failed tests. */
export interface Counts {
  passed: number;
  failed: number;
}

/** A command line: executable and arguments. */
export interface CommandLine {
  command: string;
  args: string[];
}

/** What a runtime needs to run one file, once prepared. */
export interface Prepared {
  /** The command that runs `file` (a path relative to the repository). */
  commandFor(file: string, filter: string | undefined): CommandLine;
  /** The counts in a run's output, or `undefined` when it has none. */
  counts(output: string): Counts | undefined;
  /** Removes what preparing made (temporary bundles). */
  cleanup(): Promise<void>;
}

/** A preparation step's command, run by `tests/run.ts` like a test file. */
export type Step = (label: string, line: CommandLine) => Promise<boolean>;

// deno-lint-ignore no-control-regex
export const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** Deno's `--filter` is a substring unless written `/regex/`; Bun's `-t` is a regex. */
function regexOf(filter: string): string {
  const regex = /^\/(.*)\/$/.exec(filter);
  return regex ? regex[1] : filter.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

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

/**
 * Per-test result lines, for a runner that dies before its summary (crash,
 * out of memory): Deno's `name ... ok (1ms)` / `name ... FAILED (1ms)`,
 * Bun's `(pass) name` / `(fail) name` and Node's TAP `ok 1 - name` /
 * `not ok 1 - name`.
 */
export function countLines(output: string): Counts {
  const counts: Counts = { passed: 0, failed: 0 };
  for (const line of output.replace(ANSI, "").split("\n")) {
    if (
      /^\S.* \.\.\. ok \(/.test(line) || line.startsWith("(pass) ") ||
      /^ok \d+ - (?!.*# SKIP)/.test(line)
    ) {
      counts.passed++;
    } else if (
      /^\S.* \.\.\. FAILED( \(|$)/.test(line) || line.startsWith("(fail) ") ||
      /^not ok \d+ - /.test(line)
    ) counts.failed++;
  }
  return counts;
}

/** Where `npx` keeps a package's binary: installs it once if needed. */
async function npxBinary(
  pkg: string,
  bin: string,
): Promise<string | undefined> {
  const { success, stdout } = await new Deno.Command("npx", {
    args: ["-y", "-p", pkg, "-c", `command -v ${bin}`],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const path = new TextDecoder().decode(stdout).trim();
  return success && path !== "" ? path : undefined;
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

const nothing = () => Promise.resolve();

/**
 * The scripts that tests spawn: `tests/_*_worker.ts` and the chaos run's
 * worker, relative to `root`.
 */
async function workers(root: string): Promise<string[]> {
  // The chaos run's worker lives with the chaos run, in bench/.
  const found: string[] = ["bench/chaos/worker.ts"];
  for await (const entry of Deno.readDir(join(root, "tests"))) {
    if (/^_.*_worker\.ts$/.test(entry.name)) found.push(`tests/${entry.name}`);
  }
  return found.sort();
}

/**
 * Deno: one `deno check` of every test file and the scripts they spawn
 * (the type check `deno test` would repeat in every process), then
 * `deno test -A --no-check FILE`.
 */
async function prepareDeno(
  root: string,
  files: string[],
  step: Step,
): Promise<Prepared | string> {
  const checked = await step("deno (type check)", {
    command: Deno.execPath(),
    args: ["check", "--quiet", ...files, ...await workers(root), "cli.ts"],
  });
  if (!checked) return "the type check failed";
  return {
    commandFor: (file, filter) => ({
      command: Deno.execPath(),
      args: [
        "test",
        "-A",
        "--no-check",
        ...(filter === undefined ? [] : ["--filter", filter]),
        join(root, file),
      ],
    }),
    counts: denoCounts,
    cleanup: nothing,
  };
}

/** Bun: `bun test --timeout 120000 ./FILE`, with `bun` from PATH or npm. */
async function prepareBun(): Promise<Prepared | string> {
  const bun = findExecutable("bun") ??
    await npxBinary(`bun@${BUN_VERSION}`, "bun");
  if (bun === undefined) {
    return `bun not on PATH and npx -y bun@${BUN_VERSION} failed`;
  }
  return {
    commandFor: (file, filter) => ({
      command: bun,
      args: [
        "test",
        "--timeout",
        "120000",
        ...(filter === undefined ? [] : ["-t", regexOf(filter)]),
        `./${file}`,
      ],
    }),
    counts: bunCounts,
    cleanup: nothing,
  };
}

/**
 * Node: the test files and the scripts they spawn, bundled for Node 20
 * with esbuild (TypeScript, `await using` lowered) into a temporary
 * directory laid out like the repository (so `new URL("./_lock_worker.ts",
 * import.meta.url)` in a bundle names the worker's bundle, `.ts` for `.mjs`:
 * see `harness/spawn.ts`); each file runs with `node --test`.
 */
async function prepareNode(
  root: string,
  files: string[],
  step: Step,
): Promise<Prepared | string> {
  const node = findExecutable("node");
  if (!node) return "node not on PATH";
  const version = await nodeVersion(node);
  if (!version) return `${node} --version failed`;
  const [major, minor] = NODE_MIN_VERSION;
  if (version[0] < major || (version[0] === major && version[1] < minor)) {
    return `Node ${version.join(".")} is older than ${major}.${minor}`;
  }
  const dir = await Deno.makeTempDir({ prefix: "redsync-node-" });
  const cleanup = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  const bundle = (entries: string[], main: boolean) =>
    step(`node (bundle ${main ? "scripts" : "tests"})`, {
      command: "npx",
      args: [
        "-y",
        `esbuild@${ESBUILD_VERSION}`,
        ...entries.map((entry) => join(root, entry)),
        "--bundle",
        "--platform=node",
        "--format=esm",
        "--target=node20",
        // Node 20 has no import.meta.main: true for a script run as such,
        // false for the test files.
        `--define:import.meta.main=${main}`,
        `--outbase=${root}`,
        `--outdir=${dir}`,
        "--out-extension:.js=.mjs",
        "--log-level=warning",
      ],
    });
  if (
    !await bundle([...files, ...await workers(root)], false) ||
    !await bundle(NODE_SCRIPTS, true)
  ) {
    await cleanup();
    return "esbuild failed";
  }
  return {
    commandFor: (file, filter) => ({
      command: node,
      args: [
        "--test",
        "--test-reporter=tap",
        // Ends the process once its tests are done, as Deno and Bun do.
        "--test-force-exit",
        ...(filter === undefined
          ? []
          : [`--test-name-pattern=${regexOf(filter)}`]),
        join(dir, file.replace(/\.ts$/, ".mjs")),
      ],
    }),
    counts: nodeCounts,
    cleanup,
  };
}

/** Prepares `runtime` to run `files` (paths relative to `root`). */
export function prepare(
  runtime: RuntimeName,
  root: string,
  files: string[],
  step: Step,
): Promise<Prepared | string> {
  switch (runtime) {
    case "deno":
      return prepareDeno(root, files, step);
    case "bun":
      return prepareBun();
    case "node":
      return prepareNode(root, files, step);
  }
}
