/**
 * A child process of the runtimes cell (`child.ts`): how each runtime
 * starts it, and one step at a time over its stdin and stdout.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { basename } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { findExecutable } from "../../../harness/server.ts";
import type { Step } from "./protocol.ts";

/** The runtimes the cell knows how to start. */
export const RUNTIMES = ["deno", "bun"] as const;
export type RuntimeKey = typeof RUNTIMES[number];

/** Bun's version when it is not on PATH (`npx -y bun@...`), as the tests use. */
const BUN_VERSION = "1.4.5";

const CHILD = fileURLToPath(new URL("./child.ts", import.meta.url));
const PRELOAD = fileURLToPath(new URL("./bun_preload.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The command line that runs `child.ts` on `key`. */
function commandOf(key: RuntimeKey, args: string[]): [string, string[]] {
  if (key === "deno") {
    const deno = (process.versions as Record<string, string | undefined>).deno
      ? process.execPath
      : findExecutable("deno") ?? "deno";
    return [deno, ["run", "-A", CHILD, ...args]];
  }
  const bun = findExecutable("bun");
  const prefix = bun === undefined ? ["-y", `bun@${BUN_VERSION}`] : [];
  return [bun ?? "npx", [...prefix, "--preload", PRELOAD, CHILD, ...args]];
}

/** A running `child.ts`: one step at a time. */
export class RuntimeProcess {
  readonly command: string;
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  #waiting: ((line: string | undefined) => void) | undefined;
  #exited = false;
  #stderr = "";

  constructor(key: RuntimeKey, args: string[], log: (line: string) => void) {
    const [command, argv] = commandOf(key, args);
    // For the report: no absolute paths, no URL.
    this.command = [basename(command), ...argv.slice(0, -args.length)].map((
      a,
    ) => a.startsWith(ROOT) ? a.slice(ROOT.length) : a).join(" ") +
      " <redis-url> <key-prefix>";
    this.#child = spawn(command, argv, {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    createInterface({ input: this.#child.stdout! }).on("line", (line) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (waiting) waiting(line);
      else this.#lines.push(line);
    });
    createInterface({ input: this.#child.stderr! }).on("line", (line) => {
      this.#stderr = (this.#stderr + line + "\n").slice(-2_000);
      log(`${key}: ${line}`);
    });
    this.#child.on("error", (error) => {
      this.#stderr += `${error.message}\n`;
    });
    this.#child.on("exit", () => {
      this.#exited = true;
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting?.(undefined);
    });
  }

  /** Sends `step`; resolves with the reply's fields, or throws. */
  async step<T>(step: Step, timeoutMs: number): Promise<T> {
    if (this.#exited) throw new Error(`exited: ${this.#tail()}`);
    this.#child.stdin!.write(`${JSON.stringify(step)}\n`);
    const line = this.#lines.shift() ??
      await new Promise<string | undefined>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#waiting = undefined;
          reject(new Error(`no answer to ${step.op} within ${timeoutMs} ms`));
        }, timeoutMs);
        this.#waiting = (line) => {
          clearTimeout(timer);
          resolve(line);
        };
      });
    if (line === undefined) throw new Error(`exited: ${this.#tail()}`);
    const reply = JSON.parse(line) as { ok: boolean; error?: string };
    if (!reply.ok) throw new Error(reply.error ?? "failed");
    return reply as T;
  }

  #tail(): string {
    return this.#stderr.trim().split("\n").slice(-3).join(" / ") ||
      "no output";
  }

  /** Ends the process (it is ours) and waits for it, at most 5 s. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => {
      this.#child.once("exit", () => resolve());
    });
    this.#child.stdin!.end();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      exited,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.#child.kill("SIGKILL");
          resolve();
        }, 5_000);
      }),
    ]);
    clearTimeout(timer);
  }
}
