/**
 * A bench worker in a process of its own (Deno, whatever runs the bench),
 * spoken to by lines: it reads commands on stdin and prints lines on
 * stdout; closing its stdin asks it to end.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { createInterface, type Interface } from "node:readline";
import { findExecutable } from "../../harness/server.ts";

/** How long a worker may take to end once its stdin is closed. */
const END_GRACE_MS = 10_000;

/** A worker process and its output lines. */
export class LineChild {
  readonly #child: ChildProcess;
  readonly #lines: AsyncIterator<string>;
  readonly #reader: Interface;
  readonly #label: string;
  readonly #limitMs: number;

  /**
   * Starts `deno run -A <file> ...args`; `label` names it in errors, and
   * `limitMs` bounds the wait for each of its lines.
   */
  constructor(file: string, args: string[], label: string, limitMs: number) {
    const deno = (process.versions as Record<string, string | undefined>).deno
      ? process.execPath
      : findExecutable("deno") ?? "deno";
    this.#child = spawn(deno, ["run", "-A", file, ...args], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.#reader = createInterface({ input: this.#child.stdout! });
    this.#lines = this.#reader[Symbol.asyncIterator]();
    this.#label = label;
    this.#limitMs = limitMs;
  }

  /** The next line it prints, within the limit. */
  async line(): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const next = await Promise.race([
        this.#lines.next(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${this.#label} timed out`)),
            this.#limitMs,
          );
        }),
      ]);
      if (next.done) throw new Error(`${this.#label} exited early`);
      return next.value;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Writes one line to its stdin. */
  send(line: string): void {
    this.#child.stdin!.write(`${line}\n`);
  }

  /** Closes its stdin and waits for it to end (SIGKILL after a grace). */
  async stop(): Promise<void> {
    this.#reader.close();
    this.#child.stdin!.end();
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      const exited = new Promise((r) => this.#child.once("exit", r));
      const timer = setTimeout(
        () => this.#child.kill("SIGKILL"),
        END_GRACE_MS,
      );
      await exited;
      clearTimeout(timer);
    }
  }
}
