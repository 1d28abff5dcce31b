/**
 * Starts a TypeScript script as a child process of this same runtime (Deno,
 * Bun or Node) and collects the JSON lines it prints. Used by the
 * multi-process tests and the CLI tests.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { runtime } from "./runtime.ts";

/**
 * The command line that runs `file` with `args` in this runtime. Node runs
 * no TypeScript: there, `file` names a script beside the test bundles that
 * `tests/run.ts` builds (`tests/x_test.ts` runs as `OUT/tests/x_test.mjs`, so
 * a path made from its `import.meta.url` lands in `OUT`), and its bundle,
 * the same path ending in `.mjs`, is run instead.
 */
export function scriptCommand(file: string, args: string[]): string[] {
  if (runtime === "deno") return [process.execPath, "run", "-A", file, ...args];
  if (runtime === "bun") return [process.execPath, file, ...args];
  return [process.execPath, nodeBundle(file), ...args];
}

/** The bundle of `file` for Node (see {@linkcode scriptCommand}). */
function nodeBundle(file: string): string {
  const bundle = file.replace(/\.[cm]?ts$/, ".mjs");
  if (!existsSync(bundle)) {
    throw new Error(
      `${bundle} not found: on Node, the scripts that tests spawn run from ` +
        `the bundles that tests/run.ts builds (add ${file} to its list)`,
    );
  }
  return bundle;
}

/** A running script. */
export interface Script {
  child: ChildProcess;
  /** The first JSON line it prints. */
  first: Promise<Record<string, number>>;
  /** Every JSON line, once it exits (rejects on a non-zero exit, unless killed). */
  lines: Promise<Record<string, number>[]>;
  /** SIGKILLs it if it still runs; resolves once it is gone. */
  stop(): Promise<void>;
}

/** Starts `file` with `args`; stdout JSON lines are parsed, stderr kept for errors. */
export function startScript(file: string, args: string[]): Script {
  const command = scriptCommand(file, args);
  const child = spawn(command[0], command.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let resolveFirst: (line: Record<string, number>) => void;
  const first = new Promise<Record<string, number>>((r) => resolveFirst = r);
  child.stdout!.on("data", (chunk) => {
    out += chunk;
    const line = out.split("\n").find((l) => l.startsWith("{"));
    if (line) resolveFirst(JSON.parse(line));
  });
  child.stderr!.on("data", (chunk) => err += chunk);
  const lines = new Promise<Record<string, number>[]>((resolve, reject) => {
    // "close", not "exit": after "exit" the last stdout chunk may still be
    // unread (a lost last line made a test flaky).
    child.on("close", (code, signal) => {
      // A SIGTERM the test sent is an end, not a failure (Deno reports the
      // signal even when the child's handler exited 0).
      if (code !== 0 && signal !== "SIGKILL" && signal !== "SIGTERM") {
        reject(
          new Error(`${file} exited ${code ?? signal}: ${err.slice(-2000)}`),
        );
      } else {
        resolve(
          out.split("\n").filter((l) => l.startsWith("{")).map((l) =>
            JSON.parse(l)
          ),
        );
      }
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // Not child.kill(): under Deno it closes the pipes first.
      process.kill(child.pid!, "SIGKILL");
    }
    await lines.catch(() => undefined);
  };
  return { child, first, lines, stop };
}
